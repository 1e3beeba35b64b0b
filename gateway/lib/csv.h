/* csv.h — CSV for customer imports and exports: a reader for RFC 4180 as real
 * spreadsheets write it, and a writer whose cells a spreadsheet cannot run as formulas.
 *
 * Reader: works over a body already in memory (the caller keeps it alive and unchanged
 * while reading). Accepts LF, CRLF and lone CR line ends, skips a UTF-8 BOM at the start
 * and blank lines, keeps a quote inside an unquoted field literally. Every line end is
 * counted, also inside quoted fields, so csv_record.line is the physical line (1-based) a
 * record starts on. One pass, no recursion: O(n) over the whole input.
 *
 * Owns: the reader owns the storage its records' fields point into (csv_reader_free);
 * a record's fields stay valid until the next csv_next call. Thread: any; a reader is not
 * shared between threads. No global state.
 *
 * Errors: csv_next returns 1 for a record, 0 at the end of input, -1 for a bad record with
 * a reason in rec->error and its first line in rec->line. Every -1 moves the reader
 * forward, so a loop "while ((rc = csv_next(..)) != 0)" always ends:
 *   - too many fields, a field too long, out of memory: the rest of the record is read
 *     (and dropped), the next call starts at the next record;
 *   - text after a closing quote: the next call starts on the line after the one holding
 *     the stray text;
 *   - a quoted field that never closes: the next call starts on the line after the one the
 *     field opened on (most often a stray quote; the rows after it are still read).
 * Writer functions return 0, or -1 when out's cap or memory runs out; out then holds what
 * it held before the call.
 */
#ifndef SB_CSV_H
#define SB_CSV_H
#include "gateway/lib/buf.h"
#include <stddef.h>

#define CSV_MAX_FIELDS 256
#define CSV_MAX_FIELD (64 * 1024) /* bytes of one field after unquoting */

struct csv_record {
    size_t line;                       /* physical line the record starts on, 1-based */
    size_t nfields;
    const char *field[CSV_MAX_FIELDS]; /* unquoted, NUL-terminated (may hold NUL bytes) */
    size_t len[CSV_MAX_FIELDS];
    char error[128];                   /* set when csv_next returns -1 */
};

struct csv_reader {
    const char *data;
    size_t len;
    size_t pos;
    size_t line;    /* line of data[pos] */
    char delim;
    int rewound;    /* an unterminated quote already sent the reader back once */
    struct buf store; /* the current record's fields, each NUL-terminated */
};

/* Comma-separated. */
void csv_reader_init(struct csv_reader *r, const char *data, size_t len);
/* delim is ',', ';' or '\t' (any byte but '"', CR, LF and NUL works; those make the
 * first csv_next fail with "unsupported delimiter" and the second return 0). */
void csv_reader_init_delim(struct csv_reader *r, const char *data, size_t len, char delim);
int csv_next(struct csv_reader *r, struct csv_record *rec);
void csv_reader_free(struct csv_reader *r);

/* Appends one comma-separated cell: the comma unless first_in_record, then s[0..n),
 * quoted when it holds ',', '"', CR or LF (quotes doubled). A cell starting with '=',
 * '+', '-', '@', TAB or CR gets a leading "'" (inside the quotes) so a spreadsheet shows
 * it as text instead of running it; so does a cell that already starts with "'" and one
 * of those (or another "'"), so that stripping one guarding "'" on import (the rule
 * customer_import.c applies) restores every value exactly. An empty first cell is written as "" so that a
 * one-cell record is not read back as a blank line, and so is a cell starting with U+FEFF
 * at the very start of out, which would be read back as a BOM. */
int csv_put(struct buf *out, const char *s, size_t n, int first_in_record);
/* Ends the record with CRLF (RFC 4180). */
int csv_end(struct buf *out);

#endif

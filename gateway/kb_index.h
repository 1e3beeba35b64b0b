/* kb_index.h — the knowledge base's search index, in this process's memory.
 *
 * Why: InnoDB FULLTEXT ranks every document a term matches (about 3.5 us each here), so a
 * question with a common word (退款 in a third of 10,000 articles) took 12–50 ms; this
 * index answers the same tokens in well under a millisecond. The FULLTEXT index stays the
 * database's own (kb.c falls back to it if this index cannot be had).
 *
 * What: for every article, its search_text tokens (search_text.h: the title three times,
 * tags twice, the body once) as posting lists token → (article, term frequency), scored
 * with BM25 (k1 1.2, b 0.75), InnoDB's default stopwords left out of questions. Kept
 * current by generation (012_kb.sql): before a search (or a batch, kb_index_hold), one
 * primary-key read of kb_state; when it moved, the articles and deletions newer than
 * what the index has are read and applied (an edit is a new slot, the old one dead; dead
 * slots past a quarter of all are compacted away by a rebuild).
 *
 * Thread: any thread with its own connection; readers share a rwlock, an update takes it
 * for writing after reading the rows. Errors: db_rc values, DB_EOTHER when memory runs out.
 */
#ifndef SB_KB_INDEX_H
#define SB_KB_INDEX_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gateway/db.h"

struct kb_hit {
    int64_t id;
    double score;
};

/* The best (at most limit) articles for the tokens (the keys of a JSON object), best
 * first, ties by id; locale NULL = both. *n is how many. */
int kb_index_search(struct db *db, json_t *tokens, const char *locale, bool published_only, size_t limit,
                    struct kb_hit *hits, size_t *n);

/* For a batch of searches on this thread (the quality worker's pass: one per inbound
 * message): brings the index to the database's generation once, and this thread's searches
 * skip the kb_state read until kb_index_release() — the batch sees the knowledge base at
 * least as new as when the batch began (newer if another thread's search moved the shared
 * index on meanwhile). On an error nothing is held (each search reads the generation). */
int kb_index_hold(struct db *db);
void kb_index_release(void);

#endif

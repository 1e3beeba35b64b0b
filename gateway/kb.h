/* kb.h — knowledge-base search (DESIGN.md section 8): the index text of an article, and
 * the search itself, shared by the agents' API, the public /kb pages and JSON, ticket
 * suggestions and the chat auto-answer.
 *
 * Index: kb_articles.search_text = the tokens (gateway/lib/search_text.h) of the title
 * three times, the tags twice and the body's words once (Markdown stripped) — the title
 * boost is term frequency under one FULLTEXT index, so one MATCH ranks and filters.
 * Query: tokenised the same way, plus the tokens of every synonym of a term it contains
 * (kb_synonyms; a term is contained when all its tokens are), ranked by InnoDB's
 * relevance. Snippet: about 80 characters of the body's text around the first match,
 * HTML-escaped, matched terms in <mark>.
 *
 * Thread: db-pool threads and the ingest writer (each with its own connection); the
 * synonym cache is shared under a mutex and reloaded every 30 s or after kb_synonyms_changed.
 * Errors: db_rc values; -1 from kb_index_text when memory runs out.
 */
#ifndef SB_KB_H
#define SB_KB_H
#include <jansson.h>
#include <stdbool.h>
#include "gateway/db.h"
#include "gateway/lib/buf.h"

#define KB_SEARCH_MAX 50 /* results a search may ask for */

int kb_index_text(const char *title, const char *body_md, json_t *tags, struct buf *out);

struct kb_query {
    const char *q;        /* the words as typed */
    const char *locale;   /* "zh", "en" or NULL for both */
    bool published_only;  /* public pages, suggestions, chat: true */
    size_t limit;         /* 1..KB_SEARCH_MAX */
    size_t query_tokens;  /* out: tokens the query made (0: nothing searchable) */
};

/* *items: [{id, title, snippet, score, locale, category}] best first (maybe empty). */
int kb_search(struct db *db, struct kb_query *kq, json_t **items);
/* Suggestions for a conversation: the published articles best matching the subject and
 * the first KB_SUGGEST_BYTES of the customer's message (the question is at the top). */
#define KB_SUGGEST_BYTES 400
int kb_suggest(struct db *db, const char *subject, const char *text, size_t limit, json_t **items);
/* The synonym groups changed (PUT /kb/synonyms): the next search reloads them. */
void kb_synonyms_changed(void);

#endif

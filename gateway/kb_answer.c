/* kb_answer.c — see kb_answer.h. */
#include "gateway/kb_answer.h"
#include "gateway/kb.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/search_text.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include "gateway/tickets.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static const struct sb_config *cfg;

void kb_answer_init(const struct sb_config *config)
{
    cfg = config;
}

/* The snippet's words without its <mark> tags and entities, for a plain chat bubble. */
static void plain(const char *html, struct buf *out)
{
    static const struct { const char *ent, *ch; } ents[] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"},
                                                              {"&quot;", "\""}, {"&#39;", "'"}};
    for (const char *p = html; *p;) {
        if (*p == '<') {
            const char *end = strchr(p, '>');
            p = end ? end + 1 : p + strlen(p);
            continue;
        }
        size_t k = 0;
        while (k < sizeof(ents) / sizeof(ents[0]) && strncmp(p, ents[k].ent, strlen(ents[k].ent)) != 0)
            k++;
        if (k < sizeof(ents) / sizeof(ents[0])) {
            buf_puts(out, ents[k].ch);
            p += strlen(ents[k].ent);
        } else {
            buf_append(out, p++, 1);
        }
    }
}

/* ---- how much of the question the article covers ---- */

/* Words that ask rather than say what about: not counted in the question. */
static int asking(const char *w, size_t n)
{
    static const char *const words[] = {"the", "an", "how", "do", "does", "my", "to", "can", "what", "is", "are", "you",
                                        "your", "me", "for", "of", "in", "on", "it", "be", "will", "where", "when", "why",
                                        "with", "please", "hi", "hello", "there", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], w, n) == 0)
            return 1;
    return 0;
}

static int asking_char(uint32_t cp)
{
    static const char chars[] = "请问怎么样如何什为吗呢吧啊呀的了您你我们是否能可以想要在这那个一下好";
    char enc[5] = {0};
    if (cp < 0x80 || cp > 0xFFFF)
        return 0;
    enc[0] = (char)(0xE0 | (cp >> 12));
    enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    enc[2] = (char)(0x80 | (cp & 0x3F));
    return strstr(chars, enc) != NULL;
}

struct cover {
    json_t *article;     /* the article's tokens (a set) */
    unsigned char *hit;  /* per byte of the question: inside a token the article has */
};

static int cover_token(const char *t, size_t n, size_t from, size_t to, void *arg)
{
    struct cover *c = arg;
    char key[SEARCH_TOKEN_MAX + 1];
    if (n < sizeof(key)) {
        memcpy(key, t, n);
        key[n] = '\0';
        if (json_object_get(c->article, key))
            memset(c->hit + from, 1, to - from);
    }
    return 0;
}

/* Percent of the question's telling characters (CJK characters and word letters, but for
 * asking words) inside tokens the article has. */
static int coverage(const char *question, const char *search_text)
{
    struct cover c = {json_object(), calloc(strlen(question) + 1, 1)};
    for (const char *p = search_text; c.hit && *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n && n <= SEARCH_TOKEN_MAX) {
            char key[SEARCH_TOKEN_MAX + 1];
            memcpy(key, p, n);
            key[n] = '\0';
            json_object_set(c.article, key, json_true());
        }
        p += n;
    }
    if (c.hit)
        search_tokens_each(question, cover_token, &c);
    size_t telling = 0, covered = 0;
    const unsigned char *p = (const unsigned char *)question;
    while (c.hit && *p) {
        const unsigned char *at = p;
        if (isalnum(*p)) { /* a word: counted by its letters unless it only asks */
            const unsigned char *e = p;
            while (isalnum(*e))
                e++;
            char w[32] = "";
            size_t n = (size_t)(e - p) < sizeof(w) - 1 ? (size_t)(e - p) : sizeof(w) - 1;
            for (size_t i = 0; i < n; i++)
                w[i] = (char)tolower(p[i]);
            if (!asking(w, n)) {
                telling += (size_t)(e - p);
                for (const unsigned char *q = p; q < e; q++)
                    covered += c.hit[q - (const unsigned char *)question];
            }
            p = e;
            continue;
        }
        uint32_t cp = utf8_next(&p);
        if (cp >= 0x3400 && !asking_char(cp) && cp != 0xFF0C && cp != 0xFF1F && cp != 0x3002 && cp != 0xFF01) {
            telling++;
            covered += c.hit[at - (const unsigned char *)question];
        }
    }
    free(c.hit);
    json_decref(c.article);
    return telling ? (int)(covered * 100 / telling) : 0;
}

int kb_answer_offer(struct db *db, int64_t ticket_id, const char *subject, const char *text)
{
    if (!cfg || strcmp(cfg->kb.auto_answer, "yes") != 0)
        return DB_OK;
    json_t *items = NULL;
    int rc = kb_suggest(db, subject, text, 2, &items);
    json_t *top = json_array_get(items, 0), *next = json_array_get(items, 1);
    double best = json_real_value(json_object_get(top, "score")), second = json_real_value(json_object_get(next, "score"));
    int clear = top && (!next || second * 100.0 <= best * (double)(100 - cfg->kb.auto_answer_margin));
    struct db_result r;
    int covers = 0;
    if (!rc && clear) { /* the question itself (a chat's first message; no subject) against the article */
        rc = db_exec(db, "SELECT search_text FROM kb_articles WHERE id = ?",
                     DBP(P_I(json_integer_value(json_object_get(top, "id")))), &r);
        if (!rc) {
            covers = r.nrows ? coverage(text ? text : "", db_cell(&r, 0, 0)) : 0;
            db_result_free(&r);
        }
    }
    if (rc || !clear || covers < cfg->kb.auto_answer_coverage) {
        json_decref(items);
        return rc;
    }
    struct buf body;
    buf_init(&body, 0);
    int64_t article = json_integer_value(json_object_get(top, "id"));
    const char *base = cfg->server.public_url[0] ? cfg->server.public_url : "";
    buf_printf(&body, "这篇帮助文章也许能解答您的问题 · This article may answer your question:\n《%s》\n",
               json_string_value(json_object_get(top, "title")));
    plain(json_string_value(json_object_get(top, "snippet")), &body);
    buf_printf(&body, "\n%s/kb#/article/%lld", base, (long long)article);
    int64_t mid = 0;
    rc = ticket_bot_offer(db, ticket_id, body.data ? body.data : "", article, &mid);
    buf_free(&body);
    if (!rc && mid)
        rc = db_exec(db, "UPDATE tickets SET status = 'pending', kb_offer_message_id = ? WHERE id = ?",
                     DBP(P_I(mid), P_I(ticket_id)), NULL);
    if (!rc && mid)
        rc = ticket_queue_sync(db, ticket_id); /* pending: out of the queue until answered */
    if (!rc && mid)
        log_info("kb", "event=auto_answer ticket=%lld article=%lld score=%.3f coverage=%d", (long long)ticket_id,
                 (long long)article, best, covers);
    json_decref(items);
    return rc;
}

int kb_answer_reply(struct db *db, int64_t ticket_id, int64_t message_id, bool solved)
{
    int64_t article = 0;
    int rc = db_scalar_i64(db, "SELECT m.kb_article_id FROM tickets t JOIN messages m ON m.id = t.kb_offer_message_id "
                               "WHERE t.id = ? AND t.kb_offer_message_id = ? AND t.status = 'pending' FOR UPDATE",
                           DBP(P_I(ticket_id), P_I(message_id)), 0, &article);
    if (rc || !article)
        return rc ? rc : KB_ANSWER_STALE;
    rc = db_exec(db, "UPDATE tickets SET kb_offer_message_id = NULL, status = ?, self_served = ?, "
                     "solved_at = IF(?, NOW(3), solved_at) WHERE id = ?",
                 DBP(P_S(solved ? "solved" : "open"), P_I(solved), P_I(solved), P_I(ticket_id)), NULL);
    if (!rc && solved) {
        char voter[48];
        snprintf(voter, sizeof(voter), "chat:%lld", (long long)ticket_id);
        rc = db_exec(db, "INSERT INTO kb_feedback (article_id, voter, helpful) VALUES (?, ?, 1) "
                         "ON DUPLICATE KEY UPDATE helpful = 1", DBP(P_I(article), P_S(voter)), NULL);
        if (!rc)
            rc = db_exec(db, "UPDATE kb_articles SET helpful = (SELECT COUNT(*) FROM kb_feedback f WHERE "
                             "f.article_id = kb_articles.id AND f.helpful = 1), updated_at = updated_at WHERE id = ?",
                         DBP(P_I(article)), NULL);
    }
    if (!rc)
        rc = ticket_queue_sync(db, ticket_id); /* open: back in the queue for a person */
    if (!rc)
        rc = ticket_bot_reply(db, ticket_id,
                              solved ? "很高兴帮到您！如还有问题，随时在这里留言。· Glad it helped! Write here any time."
                                     : "好的，正在为您转接人工客服，请稍候。· Connecting you with a person, one moment.",
                              false, NULL);
    json_t *t = NULL;
    if (!rc)
        rc = ticket_load(db, NULL, ticket_id, &t);
    if (!rc && t)
        rc = ticket_event(db, "ticket.updated", t, json_pack("{s:O}", "ticket", t));
    if (!rc && t && solved)
        rc = ticket_event(db, "ticket.solved", t, json_pack("{s:O}", "ticket", t));
    json_decref(t);
    return rc;
}

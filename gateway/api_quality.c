/* api_quality.c — service quality over REST (issue 10, point 5): the complaint keywords
 * (workers/quality.h applies them), the CSAT survey's public page (csat.h), and the
 * managers' report of flagged tickets and satisfaction by agent, team and channel.
 *
 * The report follows the ticket scope of managers: an admin sees everything, a manager
 * their team's tickets (and those without a team).
 */
#include "gateway/api_handlers.h"
#include "gateway/csat.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/form.h"
#include "gateway/lib/search_text.h"
#include "gateway/lib/text.h"
#include "gateway/signed_link.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keywords ---- */

int quality_keywords_get(struct api_ctx *c)
{
    return api_rows(c, "SELECT id, word, priority, created_at FROM quality_keywords ORDER BY id", DBP0);
}

/* A word is matched folded (search_fold): it must keep something besides spaces once
 * folded (an ideographic space alone would match every message), and be listed once. */
static void check_word(struct jf *g, const char *w, json_t *seen, size_t i)
{
    struct buf b;
    buf_init(&b, 0);
    if (!w || search_fold(w, &b) < 0) {
        buf_free(&b);
        return;
    }
    char *s = b.data ? text_trim(b.data) : NULL;
    if (!s || !*s) {
        jf_fail(g, "word", "must have letters or characters, not only spaces");
    } else if (json_object_get(seen, s)) {
        char why[64];
        snprintf(why, sizeof(why), "is listed twice (also keywords[%lld])",
                 (long long)json_integer_value(json_object_get(seen, s)));
        jf_fail(g, "word", why);
    } else {
        json_object_set_new(seen, s, json_integer((json_int_t)i));
    }
    buf_free(&b);
}

/* PUT {keywords: [{word, priority?}, …]}: the whole list at once. */
int quality_keywords_put(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"keywords", NULL}, *const prios[] = {"normal", "high", "urgent", NULL};
    json_t *list = json_object_get(c->body, "keywords");
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    if (!json_is_array(list) || json_array_size(list) > 500)
        jf_fail(&f, "keywords", "must be an array of at most 500 {word, priority}");
    size_t i;
    json_t *k, *seen = json_object(); /* folded word → first index */
    json_array_foreach(list, i, k) {
        struct jf g;
        jf_init(&g, json_is_object(k) ? k : NULL);
        static const char *const item[] = {"word", "priority", NULL};
        if (json_is_object(k)) {
            jf_only(&g, item);
            const char *w = jf_str(&g, "word", 100, true);
            (void)jf_enum(&g, "priority", prios, false);
            check_word(&g, w, seen, i);
        } else {
            jf_fail(&g, "word", "is required");
        }
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "keywords[%zu]", i);
        jf_absorb(&f, &g, prefix);
    }
    json_decref(seen);
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    json_t *before = NULL;
    rc = db_row_json_of(c->db, "SELECT JSON_ARRAYAGG(word) AS words__json FROM quality_keywords", DBP0, &before);
    if (!rc)
        rc = db_exec(c->db, "DELETE FROM quality_keywords", DBP0, NULL);
    json_array_foreach(list, i, k) {
        if (rc)
            break;
        const char *p = json_string_value(json_object_get(k, "priority"));
        rc = db_exec(c->db, "INSERT INTO quality_keywords (word, priority) VALUES (TRIM(?), ?)",
                     DBP(P_S(json_string_value(json_object_get(k, "word"))), P_S(p ? p : "high")), NULL);
    }
    if (rc == DB_EDUP) {
        json_decref(before);
        return api_duplicate(c, "keywords", "a word is listed twice");
    }
    json_t *after = json_pack("{s:O}", "keywords", list);
    if (!rc)
        rc = api_audit(c, "quality_keywords.updated", "quality_keywords", 0, before, after);
    json_decref(before);
    json_decref(after);
    return rc ? rc : quality_keywords_get(c);
}

/* ---- report ---- */

/* admin: all; manager: their team's, the teams they manage (whose flags reach them) and
 * unteamed tickets. Parameters: role, team id, agent id. */
#define REPORT_SCOPE \
    " AND (? = 'admin' OR t.team_id = ? OR t.team_id IS NULL OR t.team_id IN (SELECT tm.id FROM teams tm " \
    "WHERE tm.manager_id = ?)) "
#define REPORT_PARAMS(c) P_S((c)->me.role), P_I((c)->me.team_id), P_I((c)->me.id)

static json_t *csat_groups(struct api_ctx *c, const char *key_sql, const char *name_sql, int64_t days, int *rc)
{
    char sql[900];
    snprintf(sql, sizeof(sql),
             "SELECT %s AS k, %s AS name, COUNT(*) AS count, ROUND(AVG(r.rating), 2) AS average, "
             "SUM(r.rating >= 4) AS satisfied FROM csat_responses r JOIN tickets t ON t.id = r.ticket_id "
             "WHERE r.created_at >= NOW(3) - INTERVAL ? DAY" REPORT_SCOPE "GROUP BY k, name ORDER BY count DESC, k",
             key_sql, name_sql);
    struct db_result r;
    *rc = db_exec(c->db, sql, DBP(P_I(days), REPORT_PARAMS(c)), &r);
    if (*rc)
        return NULL;
    json_t *rows = db_rows_json(&r);
    db_result_free(&r);
    return rows;
}

int reports_quality(struct api_ctx *c)
{
    const char *d = api_arg(c->req, "days");
    int64_t days = 30;
    if (d && (text_parse_i64(d, &days) < 0 || days < 1 || days > 3650))
        return api_error(c, 400, "bad_request", "days must be 1..3650");
    struct db_result r;
    int rc = db_exec(c->db, "SELECT t.id, t.subject, t.channel, t.status, t.priority, t.flag_reason, t.flagged_at, "
                            "t.team_id, t.assignee_id, a.name AS assignee_name, cu.name AS customer_name "
                            "FROM tickets t JOIN customers cu ON cu.id = t.customer_id "
                            "LEFT JOIN agents a ON a.id = t.assignee_id "
                            "WHERE t.flagged_at >= NOW(3) - INTERVAL ? DAY" REPORT_SCOPE
                            "ORDER BY t.flagged_at DESC LIMIT 100",
                     DBP(P_I(days), REPORT_PARAMS(c)), &r);
    if (rc)
        return rc;
    json_t *flagged = db_rows_json(&r);
    db_result_free(&r);
    int64_t flagged_total = 0; /* the list shows the latest 100 */
    rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM tickets t WHERE t.flagged_at >= NOW(3) - INTERVAL ? DAY" REPORT_SCOPE,
                       DBP(P_I(days), REPORT_PARAMS(c)), 0, &flagged_total);
    json_t *overall = NULL;
    if (!rc)
        rc = db_row_json_of(c->db, "SELECT COUNT(*) AS count, ROUND(AVG(r.rating), 2) AS average, "
                               "SUM(r.rating = 1) AS r1, SUM(r.rating = 2) AS r2, SUM(r.rating = 3) AS r3, "
                               "SUM(r.rating = 4) AS r4, SUM(r.rating = 5) AS r5 FROM csat_responses r "
                               "JOIN tickets t ON t.id = r.ticket_id WHERE r.created_at >= NOW(3) - INTERVAL ? DAY"
                               REPORT_SCOPE, DBP(P_I(days), REPORT_PARAMS(c)), &overall);
    json_t *by_agent = rc ? NULL : csat_groups(c, "r.agent_id", "(SELECT name FROM agents WHERE id = r.agent_id)", days, &rc);
    json_t *by_team = rc ? NULL : csat_groups(c, "r.team_id", "(SELECT name FROM teams WHERE id = r.team_id)", days, &rc);
    json_t *by_channel = rc ? NULL : csat_groups(c, "r.channel", "r.channel", days, &rc);
    if (rc) {
        json_decref(flagged);
        json_decref(overall);
        json_decref(by_agent);
        json_decref(by_team);
        return rc;
    }
    return api_json(c, 200, json_pack("{s:I, s:{s:I, s:o}, s:{s:o, s:o, s:o, s:o}}", "days", (json_int_t)days,
                                      "flagged", "count", (json_int_t)flagged_total, "items", flagged, "csat",
                                      "overall", overall ? overall : json_object(), "by_agent", by_agent, "by_team",
                                      by_team, "by_channel", by_channel));
}

/* ---- the survey's public page ---- */

/* The page: five choices (r preselected), or the thanks once rated. */
static int csat_page_answer(struct api_ctx *c, int status, int rated, int preselect, const char *note)
{
    struct buf *b = &c->req->resp;
    buf_reset(b);
    buf_puts(b, "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
                "content=\"width=device-width\"><title>服务评价 · Rate our service</title><style>"
                "body{font-family:system-ui,'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;max-width:30rem;"
                "margin:3rem auto;padding:0 1rem;color:#1f2937}h1{font-size:1.4rem}.stars{display:flex;gap:.5rem;"
                "margin:1.5rem 0}.stars label{flex:1}.stars input{position:absolute;opacity:0}.stars span{display:block;"
                "text-align:center;padding:.8rem 0;border:1px solid #d1d5db;border-radius:.5rem;font-size:1.2rem;"
                "cursor:pointer}.stars input:checked+span{background:#2563eb;color:#fff;border-color:#2563eb}"
                ".stars input:focus-visible+span{outline:3px solid #93c5fd}textarea{width:100%;min-height:5rem;"
                "box-sizing:border-box;border:1px solid #d1d5db;border-radius:.5rem;padding:.5rem;font:inherit}"
                "button{margin-top:1rem;font-size:1rem;padding:.7rem 1.4rem;border:0;border-radius:.5rem;"
                "background:#2563eb;color:#fff;cursor:pointer}.muted{color:#6b7280}.done{font-size:1.1rem}</style>"
                "</head><body><h1>服务评价 · How did we do?</h1>");
    if (note) {
        buf_puts(b, "<p class=\"muted\">");
        buf_put_html(b, note, strlen(note));
        buf_puts(b, "</p>");
    }
    if (rated) {
        buf_printf(b, "<p class=\"done\" data-rating=\"%d\">感谢您的评价：%d / 5。<br>Thank you — you rated us %d out of 5.</p>",
                   rated, rated, rated);
    } else {
        buf_puts(b, "<form method=\"post\"><p>请选择 1–5 分（5 分最满意）· Choose 1 (poor) to 5 (excellent)</p>"
                    "<div class=\"stars\" role=\"radiogroup\" aria-label=\"rating\">");
        for (int i = 1; i <= 5; i++)
            buf_printf(b, "<label><input type=\"radio\" name=\"rating\" value=\"%d\"%s required><span>%d</span></label>",
                       i, i == preselect ? " checked" : "", i);
        buf_puts(b, "</div><label for=\"comment\">想对我们说的话（可选）· Anything to add? (optional)</label>"
                    "<textarea id=\"comment\" name=\"comment\" maxlength=\"1000\"></textarea>"
                    "<button type=\"submit\">提交 · Send</button></form>");
    }
    buf_puts(b, "</body></html>");
    c->req->status = status;
    c->req->resp_type = "text/html; charset=utf-8";
    return DB_OK;
}

static int csat_ticket(struct api_ctx *c, int64_t *ticket)
{
    if (!signed_link_verify(c->db, "csat", c->req->params.str[0], ticket)) {
        api_error(c, 404, "not_found", "no such survey");
        return -1;
    }
    return 0;
}

int csat_page(struct api_ctx *c)
{
    int64_t ticket = 0, rated = 0, r = 0;
    if (csat_ticket(c, &ticket) < 0)
        return 0;
    int rc = db_scalar_i64(c->db, "SELECT rating FROM csat_responses WHERE ticket_id = ?", DBP(P_I(ticket)), 0, &rated);
    if (rc)
        return rc;
    const char *pre = api_arg(c->req, "r");
    if (pre && (text_parse_i64(pre, &r) < 0 || r < 1 || r > 5))
        r = 0;
    return csat_page_answer(c, 200, (int)rated, (int)r, NULL);
}

/* POST: a form from the page, or JSON {rating, comment} from the chat widget. */
int csat_post(struct api_ctx *c)
{
    int64_t ticket = 0, rating = 0;
    if (csat_ticket(c, &ticket) < 0)
        return 0;
    int json = strncmp(c->req->content_type, "application/json", 16) == 0;
    struct form f = {0};
    const char *why = NULL, *r = NULL, *comment = NULL;
    if (json) {
        if (api_body_object(c) < 0)
            return 0;
        json_t *v = json_object_get(c->body, "rating");
        rating = json_is_integer(v) ? json_integer_value(v) : 0;
        comment = json_string_value(json_object_get(c->body, "comment"));
    } else if (form_parse(c->req->body.data ? c->req->body.data : "", c->req->body.len, &f, &why) == 0) {
        r = form_get(&f, "rating");
        comment = form_get(&f, "comment");
        if (!r || text_parse_i64(r, &rating) < 0)
            rating = 0;
    }
    /* 1000 characters, as the page's textarea says (a Chinese character is 3 bytes) */
    bool bad_comment = comment && (strlen(comment) > 4000 || !utf8_valid(comment, strlen(comment)) ||
                                   utf8_length(comment, strlen(comment)) > 1000);
    if (rating < 1 || rating > 5 || bad_comment) {
        form_free(&f);
        if (json) {
            json_t *fields = json_object();
            if (rating < 1 || rating > 5)
                json_object_set_new(fields, "rating", json_string("must be a whole number from 1 to 5"));
            if (bad_comment)
                json_object_set_new(fields, "comment", json_string("must be UTF-8 text of at most 1000 characters"));
            return api_invalid(c, fields);
        }
        return csat_page_answer(c, 422, 0, 0, bad_comment ? "留言最多 1000 字 · Please keep the comment to 1000 characters."
                                                          : "请选择 1–5 分 · Please choose a rating from 1 to 5.");
    }
    int stored = 0;
    int rc = csat_record(c->db, ticket, (int)rating, comment, &stored);
    form_free(&f);
    if (rc < 0)
        return rc;
    if (rc == CSAT_NO_TICKET)
        return api_error(c, 404, "not_found", "no such survey");
    if (json)
        return api_json(c, 200, json_pack("{s:I, s:i, s:b}", "ticket_id", (json_int_t)ticket, "rating", stored,
                                          "already_rated", rc == CSAT_ALREADY));
    return csat_page_answer(c, 200, stored, 0, rc == CSAT_ALREADY ? "您已评价过；以第一次为准。· You had already rated this." : NULL);
}

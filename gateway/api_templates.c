/* api_templates.c — message templates (/api/v1/templates) and their preview.
 *
 * A template is mustache (template.h) per channel: e-mail has a subject, a text and an
 * optional HTML body; SMS a text body. Every part is compiled before it is stored, so a
 * broken template is a 422 naming the part and the line:column, never a campaign error
 * later. Variables: customer.* (the record as GET /customers/{id} shows it, with
 * customer.attrs.* for custom fields), agent.* (who sends: id, name, email), campaign.*
 * and unsubscribe_url. Subjects and text parts render in TEMPLATE_TEXT mode (nothing
 * escaped: the SMTP layer encodes subjects per RFC 2047), HTML parts in TEMPLATE_HTML
 * ({{x}} escaped, {{{x}}} only where the author chose it).
 *
 * Preview (POST /templates/{id}/preview {"customer_id"} or POST /templates/preview with an
 * unsaved template) renders for one customer in the caller's data scope.
 */
#include "gateway/api_handlers.h"
#include "gateway/field_perms.h"
#include "gateway/customers.h"
#include "gateway/lib/buf.h"
#include "gateway/lib/sms_text.h"
#include "gateway/lib/text.h"
#include "gateway/template.h"
#include "gateway/templates.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_SELECT \
    "SELECT id, name, channel, subject, body_text AS text, body_html AS html, created_by, created_at, updated_at " \
    "FROM templates "
#define RENDER_CAP (1024 * 1024) /* a rendered part; the SMTP layer has its own limits */

static const char *const channels[] = {"email", "sms", NULL};

json_t *template_context(json_t *customer, json_t *agent, json_t *campaign, const char *unsubscribe_url)
{
    return json_pack("{s:O, s:O, s:O, s:s}", "customer", customer ? customer : json_null(), "agent",
                     agent ? agent : json_null(), "campaign", campaign ? campaign : json_null(), "unsubscribe_url",
                     unsubscribe_url ? unsubscribe_url : "");
}

int template_part_render(const char *src, json_t *ctx, int html, char **out, char *why, size_t whysz)
{
    struct buf b;
    struct template_error err;
    buf_init(&b, RENDER_CAP);
    *out = NULL;
    if (!src)
        return 0;
    if (template_render_string(src, strlen(src), ctx, html ? TEMPLATE_HTML : TEMPLATE_TEXT, NULL, NULL, &b, &err) < 0) {
        snprintf(why, whysz, "line %zu, column %zu: %s", err.line, err.col, err.message);
        buf_free(&b);
        return -1;
    }
    *out = b.data ? buf_take(&b) : strdup("");
    return 0;
}

/* Compiles one part; a problem goes into f under field. */
static void check_part(struct jf *f, const char *field, const char *src)
{
    struct template *t = NULL;
    struct template_error err;
    if (!src)
        return;
    if (template_compile(src, strlen(src), &t, &err) < 0) {
        char msg[240];
        snprintf(msg, sizeof(msg), "line %zu, column %zu: %s", err.line, err.col, err.message);
        jf_fail(f, field, msg);
    }
    template_free(t);
}

struct template_input {
    const char *name, *channel, *subject, *text, *html;
};

/* current: the stored template on update (its channel decides what is allowed); draft: a
 * preview of an unsaved template, which needs no name. */
static void read_template(struct jf *f, struct template_input *in, json_t *current, bool draft)
{
    static const char *const allowed[] = {"name", "channel", "subject", "text", "html", NULL};
    jf_only(f, allowed);
    in->name = draft ? jf_str(f, "name", 200, false) : jf_name(f, "name", 200, !current);
    in->channel = jf_enum(f, "channel", channels, !current);
    const char *stored = current ? json_string_value(json_object_get(current, "channel")) : NULL;
    if (stored && in->channel && strcmp(in->channel, stored) != 0)
        jf_fail(f, "channel", "cannot be changed; create a template for the other channel");
    const char *channel = stored ? stored : in->channel;
    in->subject = jf_str(f, "subject", 1000, false);
    in->text = jf_str(f, "text", 65536, !current);
    in->html = jf_str(f, "html", 1000000, false);
    int email = channel && strcmp(channel, "email") == 0;
    if (email && !current && !in->subject)
        jf_fail(f, "subject", "is required for an e-mail template");
    if (channel && !email && in->subject)
        jf_fail(f, "subject", "an SMS has no subject");
    if (channel && !email && in->html)
        jf_fail(f, "html", "an SMS has no HTML body");
    check_part(f, "subject", in->subject);
    check_part(f, "text", in->text);
    check_part(f, "html", in->html);
}



int templates_list(struct api_ctx *c)
{
    const char *ch = api_arg(c->req, "channel");
    if (ch && *ch && strcmp(ch, "email") && strcmp(ch, "sms"))
        return api_error(c, 400, "bad_request", "channel must be email or sms");
    return api_rows(c, TEMPLATE_SELECT "WHERE (? IS NULL OR channel = ?) ORDER BY name",
                    DBP(P_S(ch && *ch ? ch : NULL), P_S(ch && *ch ? ch : NULL)));
}

int templates_get(struct api_ctx *c)
{
    json_t *t = NULL;
    int rc = db_row_json_of(c->db, TEMPLATE_SELECT "WHERE id = ?", DBP(P_I(c->req->params.id[0])), &t);
    if (rc || !t)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, t);
}

int templates_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct template_input in = {0};
    read_template(&f, &in, NULL, false);
    int rc = DB_OK;
    if (!api_checked(c, &f, &rc))
        return rc;
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO templates (name, channel, subject, body_text, body_html, created_by) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                 DBP(P_S(in.name), P_S(in.channel), P_S(in.subject), P_S(in.text), P_S(in.html), P_IOPT(c->me.id)), &r);
    if (rc == DB_EDUP)
        return api_duplicate(c, "name", "a template with this name exists");
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return api_written(c, TEMPLATE_SELECT "WHERE id = ?", "template", id, NULL, 201);
}

int templates_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, TEMPLATE_SELECT "WHERE id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    struct template_input in = {0};
    read_template(&f, &in, before, false);
    if (!api_checked(c, &f, &rc)) {
        json_decref(before);
        return rc;
    }
#define GIVEN(k) P_I(json_object_get(c->body, k) != NULL)
    rc = db_exec(c->db, "UPDATE templates SET name = COALESCE(?, name), subject = IF(?, ?, subject), "
                        "body_text = COALESCE(?, body_text), body_html = IF(?, ?, body_html) WHERE id = ?",
                 DBP(P_S(in.name), GIVEN("subject"), P_S(in.subject), P_S(in.text), GIVEN("html"), P_S(in.html), P_I(id)),
                 NULL);
#undef GIVEN
    if (rc == DB_EDUP)
        rc = api_duplicate(c, "name", "a template with this name exists");
    else if (!rc)
        rc = api_written(c, TEMPLATE_SELECT "WHERE id = ?", "template", id, before, 200);
    json_decref(before);
    return rc;
}

int templates_delete(struct api_ctx *c)
{
    return api_delete_audited(c, TEMPLATE_SELECT "WHERE id = ? FOR UPDATE", "DELETE FROM templates WHERE id = ?", "template");
}

/* ---- preview ---- */

/* {subject, text, html} rendered for customer_id (in scope), as campaign mail would be. */
static int render_for(struct api_ctx *c, const char *channel, const char *subject, const char *text, const char *html,
                      int64_t customer_id)
{
    json_t *cu = NULL;
    int rc = customer_load(c->db, &c->me, customer_id, &cu);
    if (rc || !cu)
        return rc ? rc : api_invalid(c, json_pack("{s:s}", "customer_id", "no such customer in your scope"));
    fperm_redact(cu); /* rendered for this user: fields hidden from them render empty */
    json_t *agent = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)c->me.id, "name", c->me.name, "email", c->me.email);
    json_t *campaign = json_pack("{s:s, s:n}", "name", "(preview)", "id");
    json_t *ctx = template_context(cu, agent, campaign, "https://example.invalid/u/preview-token");
    json_decref(cu);
    json_decref(agent);
    json_decref(campaign);
    char *parts[3] = {NULL, NULL, NULL}, why[240];
    const char *src[3] = {subject, text, html}, *names[3] = {"subject", "text", "html"};
    json_t *out = json_object(), *errors = json_object();
    for (int i = 0; i < 3; i++) {
        if (template_part_render(src[i], ctx, i == 2, &parts[i], why, sizeof(why)) < 0)
            json_object_set_new(errors, names[i], json_string(why));
        json_object_set_new(out, names[i], parts[i] ? json_string(parts[i]) : json_null());
    }
    if (parts[1] && strcmp(channel, "sms") == 0) {
        struct sms_count n;
        sms_count_text(parts[1], &n);
        json_object_set_new(out, "segments", json_integer((json_int_t)n.segments));
        json_object_set_new(out, "encoding", json_string(sms_encoding_name(n.encoding)));
    }
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    json_decref(ctx);
    if (json_object_size(errors)) {
        json_decref(out);
        return api_invalid(c, errors);
    }
    json_decref(errors);
    return api_json(c, 200, out);
}

static int64_t preview_customer(struct jf *f)
{
    bool has;
    return jf_int(f, "customer_id", 1, INT64_MAX, true, &has);
}

int templates_preview(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    json_t *stored = NULL;
    int rc = DB_OK;
    if (c->req->params.n) {
        rc = db_row_json_of(c->db, TEMPLATE_SELECT "WHERE id = ?", DBP(P_I(c->req->params.id[0])), &stored);
        if (rc || !stored)
            return rc ? rc : api_not_found(c);
    }
    struct jf f;
    jf_init(&f, c->body);
    struct template_input in = {0};
    int64_t customer = 0;
    if (stored) {
        static const char *const allowed[] = {"customer_id", NULL};
        jf_only(&f, allowed);
        customer = preview_customer(&f);
    } else {
        json_t *cid = json_incref(json_object_get(c->body, "customer_id"));
        json_object_del(c->body, "customer_id"); /* the rest is a template */
        read_template(&f, &in, NULL, true);
        if (cid)
            json_object_set_new(c->body, "customer_id", cid);
        customer = preview_customer(&f);
    }
    if (!api_checked(c, &f, &rc)) {
        json_decref(stored);
        return rc;
    }
    const char *pick[4] = {in.channel, in.subject, in.text, in.html};
    if (stored) {
        pick[0] = json_string_value(json_object_get(stored, "channel"));
        pick[1] = json_string_value(json_object_get(stored, "subject"));
        pick[2] = json_string_value(json_object_get(stored, "text"));
        pick[3] = json_string_value(json_object_get(stored, "html"));
    }
    rc = render_for(c, pick[0], pick[1], pick[2], pick[3], customer);
    json_decref(stored);
    return rc;
}

/* ---- defaults from files (switchboard templates load) ---- */

/* The file's text, or NULL when it does not exist; -1 in *bad when it is unreadable or
 * too large. */
static char *slurp(const char *path, int *bad)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, TEMPLATE_MAX_SOURCE);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&b, chunk, n) < 0) {
            *bad = -1;
            break;
        }
    fclose(f);
    if (*bad) {
        buf_free(&b);
        return NULL;
    }
    return b.data ? buf_take(&b) : strdup("");
}

/* One template NAME of channel from DIR/channel/NAME.*.mustache. 1 = added, 0 = there. */
static int load_one(struct db *db, const char *dir, const char *channel, const char *name, char *err, size_t errsz)
{
    static const char *const parts[] = {"subject", "text", "html"};
    char *src[3] = {NULL, NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        char path[1024];
        int bad = 0;
        snprintf(path, sizeof(path), "%s/%s/%s.%s.mustache", dir, channel, name, parts[i]);
        src[i] = slurp(path, &bad);
        struct template *t = NULL;
        struct template_error te;
        if (bad) {
            snprintf(err, errsz, "%s: unreadable or larger than %d bytes", path, TEMPLATE_MAX_SOURCE);
            rc = -1;
        } else if (src[i] && template_compile(src[i], strlen(src[i]), &t, &te) < 0) {
            snprintf(err, errsz, "%s:%zu:%zu: %s", path, te.line, te.col, te.message);
            rc = -1;
        }
        template_free(t);
    }
    if (!rc && src[0]) /* a subject is one line */
        src[0][strcspn(src[0], "\r\n")] = '\0';
    if (!rc && (!src[1] || (strcmp(channel, "email") == 0 && !src[0]))) {
        snprintf(err, errsz, "%s/%s/%s: needs a .text.mustache%s", dir, channel, name,
                 strcmp(channel, "email") == 0 ? " and a .subject.mustache" : "");
        rc = -1;
    }
    struct db_result r;
    if (!rc && !(rc = db_exec(db, "INSERT IGNORE INTO templates (name, channel, subject, body_text, body_html) "
                                  "VALUES (?, ?, ?, ?, ?)",
                              DBP(P_S(name), P_S(channel), P_S(src[0]), P_S(src[1]), P_S(src[2])), &r))) {
        rc = r.affected > 0;
        db_result_free(&r);
    }
    if (rc < 0 && !err[0])
        snprintf(err, errsz, "%s", db_error(db));
    for (int i = 0; i < 3; i++)
        free(src[i]);
    return rc;
}

int templates_load_dir(struct db *db, const char *dir, int *added, char *err, size_t errsz)
{
    static const char *const chans[] = {"email", "sms"};
    *added = 0;
    for (int c = 0; c < 2; c++) {
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%s", dir, chans[c]);
        DIR *d = opendir(sub);
        if (!d)
            continue;
        struct dirent *e;
        int rc = 0;
        while (rc >= 0 && (e = readdir(d))) {
            const char *suffix = ".text.mustache";
            size_t n = strlen(e->d_name), k = strlen(suffix);
            if (n <= k || strcmp(e->d_name + n - k, suffix) != 0 || n - k > 200)
                continue;
            char name[256];
            text_copy_n(name, sizeof(name), e->d_name, n - k);
            rc = load_one(db, dir, chans[c], name, err, errsz);
            *added += rc > 0;
        }
        closedir(d);
        if (rc < 0)
            return -1;
    }
    return 0;
}

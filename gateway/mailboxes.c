/* mailboxes.c — see mailboxes.h. */
#include "gateway/mailboxes.h"
#include "gateway/lib/contact.h"
#include "gateway/lib/json_field.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAILBOX_SELECT \
    "SELECT m.id, m.name, m.address, m.imap_host, m.imap_port, m.imap_tls, m.imap_user, " \
    "m.imap_secret <> '' AS has_secret__bool, m.folder, m.team_id, m.default_skills AS default_skills__json, " \
    "m.enabled AS enabled__bool, m.source, m.uidvalidity, m.last_uid, m.last_sync_at, m.last_error, " \
    "m.created_at, m.updated_at FROM mailboxes m "

static const char *const tls_modes[] = {"none", "starttls", "implicit", NULL};
static const char *const fields[] = {"name", "address", "imap_host", "imap_port", "imap_tls", "imap_user",
                                     "imap_secret", "folder", "team_id", "default_skills", "enabled", NULL};

static int load(struct db *db, int64_t id, json_t **out)
{
    struct db_result r;
    int rc = db_exec(db, MAILBOX_SELECT "WHERE m.id = ?", DBP(P_I(id)), &r);
    if (rc)
        return rc;
    *out = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return DB_OK;
}

int mailboxes_list(struct api_ctx *c)
{
    return api_rows(c, MAILBOX_SELECT "ORDER BY m.name", DBP0);
}

int mailboxes_get(struct api_ctx *c)
{
    json_t *m = NULL;
    int rc = load(c->db, c->req->params.id[0], &m);
    if (rc)
        return rc;
    return m ? api_json(c, 200, m) : api_not_found(c);
}

static int name_ok(const char *s)
{
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int host_ok(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != ':' && *s != '[' && *s != ']')
            return 0;
    return 1;
}

struct mailbox_input {
    const char *name, *imap_host, *imap_tls, *imap_user, *imap_secret, *folder;
    char address[CONTACT_MAX];
    int64_t port, team_id;
    bool has_port, has_team, enabled;
    char *skills; /* JSON text, owned */
};

static void check_skills(struct jf *f, json_t *v, struct mailbox_input *in)
{
    size_t i;
    json_t *s;
    if (!json_is_array(v) || json_array_size(v) > 50) {
        jf_fail(f, "default_skills", "must be an array of at most 50 skill names");
        return;
    }
    json_array_foreach(v, i, s) {
        const char *name = json_string_value(s);
        if (!name || !*name || strlen(name) > 64) {
            jf_fail(f, "default_skills", "each skill must be a name of 1..64 characters");
            return;
        }
    }
    in->skills = json_dumps(v, JSON_COMPACT);
}

static int read_mailbox(struct api_ctx *c, struct jf *f, struct mailbox_input *in, bool create)
{
    jf_only(f, fields);
    in->name = jf_str(f, "name", 64, create);
    if (in->name && !name_ok(in->name))
        jf_fail(f, "name", "lower-case letters, digits, - and _ only");
    const char *addr = jf_str(f, "address", 254, create), *why = NULL;
    if (addr && contact_email_normalise(addr, in->address, sizeof(in->address), &why) < 0)
        jf_fail(f, "address", why);
    in->imap_host = jf_str(f, "imap_host", 255, create);
    if (in->imap_host && !host_ok(in->imap_host))
        jf_fail(f, "imap_host", "must be a host name or address");
    in->port = jf_int(f, "imap_port", 1, 65535, false, &in->has_port);
    in->imap_tls = jf_enum(f, "imap_tls", tls_modes, false);
    in->imap_user = jf_str(f, "imap_user", 255, create);
    in->imap_secret = jf_str(f, "imap_secret", 1024, false);
    in->folder = jf_str(f, "folder", 255, false);
    in->team_id = jf_int(f, "team_id", 1, INT64_MAX, false, &in->has_team);
    in->enabled = jf_bool(f, "enabled", true);
    json_t *skills = json_object_get(c->body, "default_skills");
    if (skills)
        check_skills(f, skills, in);
    if (in->has_team) {
        int64_t n = 0;
        int rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM teams WHERE id = ?", DBP(P_I(in->team_id)), 0, &n);
        if (rc)
            return rc;
        if (!n)
            jf_fail(f, "team_id", "no such team");
    }
    return DB_OK;
}

static int finish(struct api_ctx *c, int64_t id, json_t *before, int status)
{
    json_t *after = NULL;
    int rc = load(c->db, id, &after);
    if (!rc)
        rc = api_audit(c, status == 201 ? "mailbox.created" : "mailbox.updated", "mailbox", id, before, after);
    if (rc) {
        json_decref(after);
        return rc;
    }
    return api_json(c, status, after);
}

int mailboxes_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    struct jf f;
    jf_init(&f, c->body);
    struct mailbox_input in = {0};
    int rc = read_mailbox(c, &f, &in, true);
    if (!api_checked(c, &f, &rc)) {
        free(in.skills);
        return rc;
    }
    struct db_result r;
    rc = db_exec(c->db, "INSERT INTO mailboxes (name, address, imap_host, imap_port, imap_tls, imap_user, imap_secret, "
                        "folder, team_id, default_skills, enabled, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'api')",
                 DBP(P_S(in.name), P_S(in.address), P_S(in.imap_host), P_I(in.has_port ? in.port : 993),
                     P_S(in.imap_tls ? in.imap_tls : "implicit"), P_S(in.imap_user), P_S(in.imap_secret ? in.imap_secret : ""),
                     P_S(in.folder && *in.folder ? in.folder : "INBOX"), P_IOPT(in.team_id),
                     P_S(in.skills ? in.skills : "[]"), P_I(in.enabled)), &r);
    free(in.skills);
    if (rc == DB_EDUP)
        return api_json(c, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "duplicate", "message",
                                          "a mailbox with this name exists", "field", "name"));
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    return finish(c, id, NULL, 201);
}

int mailboxes_update(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    if (api_body_object(c) < 0)
        return 0;
    json_t *before = NULL;
    int rc = load(c->db, id, &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    struct jf f;
    jf_init(&f, c->body);
    struct mailbox_input in = {0};
    rc = read_mailbox(c, &f, &in, false);
    bool has_enabled = jf_has(&f, "enabled"), has_team_key = jf_has(&f, "team_id");
    if (!api_checked(c, &f, &rc)) {
        free(in.skills);
        json_decref(before);
        return rc;
    }
    rc = db_exec(c->db, "UPDATE mailboxes SET name = COALESCE(?, name), address = COALESCE(?, address), "
                        "imap_host = COALESCE(?, imap_host), imap_port = IF(?, ?, imap_port), "
                        "imap_tls = COALESCE(?, imap_tls), imap_user = COALESCE(?, imap_user), "
                        "imap_secret = COALESCE(?, imap_secret), folder = COALESCE(?, folder), "
                        "team_id = IF(?, ?, team_id), default_skills = COALESCE(?, default_skills), "
                        "enabled = IF(?, ?, enabled) WHERE id = ?",
                 DBP(P_S(in.name), P_S(in.address[0] ? in.address : NULL), P_S(in.imap_host), P_I(in.has_port),
                     P_I(in.port), P_S(in.imap_tls), P_S(in.imap_user), P_S(in.imap_secret),
                     P_S(in.folder && *in.folder ? in.folder : NULL), P_I(has_team_key), P_IOPT(in.team_id),
                     P_S(in.skills), P_I(has_enabled), P_I(in.enabled), P_I(id)), NULL);
    free(in.skills);
    if (rc == DB_EDUP) {
        json_decref(before);
        return api_json(c, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "duplicate", "message",
                                          "a mailbox with this name exists", "field", "name"));
    }
    if (rc) {
        json_decref(before);
        return rc;
    }
    rc = finish(c, id, before, 200);
    json_decref(before);
    return rc;
}

/* ---- [mailbox.NAME] sections ---- */

static int sync_one(struct db *db, const struct cfg_mailbox *mb, const char *address)
{
    int64_t team = 0;
    int rc = DB_OK;
    if (mb->team[0]) {
        rc = db_scalar_i64(db, "SELECT id FROM teams WHERE name = ?", DBP(P_S(mb->team)), 0, &team);
        if (!rc && !team)
            log_warn("mailboxes", "event=unknown_team mailbox=%s team=\"%s\"", mb->name, mb->team);
    }
    if (rc)
        return rc;
    return db_exec(db, "INSERT INTO mailboxes (name, address, imap_host, imap_port, imap_tls, imap_user, imap_secret, "
                       "folder, team_id, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'config') ON DUPLICATE KEY UPDATE "
                       "address = VALUES(address), imap_host = VALUES(imap_host), imap_port = VALUES(imap_port), "
                       "imap_tls = VALUES(imap_tls), imap_user = VALUES(imap_user), imap_secret = VALUES(imap_secret), "
                       "folder = VALUES(folder), team_id = VALUES(team_id), source = 'config'",
                   DBP(P_S(mb->name), P_S(address), P_S(mb->host), P_I(mb->port), P_S(mb->tls), P_S(mb->user),
                       P_S(mb->password), P_S(mb->folder[0] ? mb->folder : "INBOX"), P_IOPT(team)), NULL);
}

int mailboxes_sync_config(const struct sb_config *cfg, char *err, size_t errsz)
{
    if (!cfg->n_mailboxes)
        return 0;
    char addr[CFG_MAX_MAILBOXES][CONTACT_MAX];
    for (size_t i = 0; i < cfg->n_mailboxes; i++) {
        const struct cfg_mailbox *mb = &cfg->mailboxes[i];
        const char *why = NULL;
        if (contact_email_normalise(mb->address[0] ? mb->address : mb->user, addr[i], sizeof(addr[i]), &why) < 0) {
            snprintf(err, errsz, "[mailbox.%s] address: %s (set address, or a user that is an e-mail address)",
                     mb->name, why);
            return -1;
        }
    }
    struct db *db = db_new(cfg, 1);
    int rc = db_begin(db);
    for (size_t i = 0; !rc && i < cfg->n_mailboxes; i++)
        rc = sync_one(db, &cfg->mailboxes[i], addr[i]);
    if (!rc)
        rc = db_commit(db);
    else
        db_rollback(db);
    if (rc)
        snprintf(err, errsz, "cannot store the configured mailboxes: %s", db_error(db));
    else
        log_info("mailboxes", "event=config_synced count=%zu", cfg->n_mailboxes);
    db_free(db);
    return rc ? -1 : 0;
}

/* api_keys.c — see api_keys.h. */
#include "gateway/api_keys.h"
#include "gateway/auth.h"
#include "gateway/lib/rate_limit.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BUCKETS 1024

struct bucket {
    int64_t key_id;
    int64_t rate;
    struct rate_limit rl;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct bucket buckets[BUCKETS];

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 0 when the key may make a request now, else the seconds to wait. A slot taken by
 * another key (hash collision) restarts full: a collision can only be lenient. */
static int64_t bucket_take(int64_t key_id, int64_t per_minute)
{
    int64_t t = now_us(), wait = 0;
    pthread_mutex_lock(&mu);
    struct bucket *b = &buckets[(uint64_t)key_id % BUCKETS];
    if (b->key_id != key_id || b->rate != per_minute) {
        b->key_id = key_id;
        b->rate = per_minute;
        rate_init(&b->rl, (double)per_minute, (double)per_minute / 60.0, t);
    }
    if (!rate_take(&b->rl, t))
        wait = (int64_t)ceil((1.0 - b->rl.tokens) / b->rl.per_sec);
    pthread_mutex_unlock(&mu);
    return wait > 0 ? wait : 0;
}

int api_key_authenticate(struct db *db, const char *token, const char *ip, struct agent_info *me,
                         int64_t *retry_after)
{
    *retry_after = 0;
    size_t n = strlen(token);
    if (n < 20 || n > 100)
        return 0;
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)token, n);
    struct db_result r;
    int rc = db_exec(db,
                     "SELECT k.id, k.rate_per_minute, a.id, a.role, COALESCE(a.team_id, 0), a.name, a.email, "
                     "COALESCE(a.region, ''), a.data_scope FROM api_keys k JOIN agents a ON a.id = k.agent_id "
                     "WHERE k.key_hash = ? AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > NOW(3)) "
                     "AND a.active = 1",
                     DBP(P_SN((const char *)h, 32)), &r);
    if (rc)
        return rc;
    if (r.nrows != 1) {
        db_result_free(&r);
        return 0;
    }
    int64_t key_id = db_cell_i64(&r, 0, 0);
    auth_agent_from_row(&r, 2, me);
    me->api_key = true;
    *retry_after = bucket_take(key_id, db_cell_i64(&r, 0, 1));
    db_result_free(&r);
    if (*retry_after > 0)
        return 0;
    /* autocommit (authentication runs before the request's transaction): a request that
     * later fails still counts as a use */
    rc = db_exec(db, "UPDATE api_keys SET last_used_at = NOW(3), last_used_ip = ? WHERE id = ? AND "
                     "(last_used_at IS NULL OR last_used_at < NOW(3) - INTERVAL 5 SECOND OR last_used_ip <> ?)",
                 DBP(P_S(ip), P_I(key_id), P_S(ip)), NULL);
    return rc ? rc : 1;
}

/* ---- the admin API ---- */

#define KEY_SELECT                                                                                \
    "SELECT k.id, k.name, a.role, a.team_id, k.prefix, k.rate_per_minute, k.created_at, k.expires_at, " \
    "k.last_used_at, k.last_used_ip, k.revoked_at, k.created_by FROM api_keys k JOIN agents a ON a.id = k.agent_id "

int api_keys_list(struct api_ctx *c)
{
    return api_rows(c, KEY_SELECT "ORDER BY k.revoked_at IS NOT NULL, k.id DESC", DBP0);
}

int api_keys_get(struct api_ctx *c)
{
    json_t *o = NULL;
    int rc = db_row_json_of(c->db, KEY_SELECT "WHERE k.id = ?", DBP(P_I(c->req->params.id[0])), &o);
    if (rc || !o)
        return rc ? rc : api_not_found(c);
    return api_json(c, 200, o);
}

int api_keys_create(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    static const char *const allowed[] = {"name", "role", "team_id", "rate_per_minute", "expires_at", NULL};
    static const char *const roles[] = {"admin", "manager", "agent", "sales", "marketer", NULL};
    struct jf f;
    jf_init(&f, c->body);
    jf_only(&f, allowed);
    bool has_team, has_rate;
    const char *name = jf_str(&f, "name", 100, true), *role = jf_enum(&f, "role", roles, true);
    int64_t team = jf_int(&f, "team_id", 1, INT64_MAX, false, &has_team);
    int64_t rate = jf_int(&f, "rate_per_minute", 1, 100000, false, &has_rate);
    char expires[24];
    jf_utc_time(&f, "expires_at", expires);
    int rc = DB_OK;
    int64_t ok = 1;
    if (has_team && (rc = db_scalar_i64(c->db, "SELECT COUNT(*) FROM teams WHERE id = ?", DBP(P_I(team)), 0, &ok)))
        return rc;
    if (!ok)
        jf_fail(&f, "team_id", "no such team");
    if (expires[0] && (rc = db_scalar_i64(c->db, "SELECT ? > NOW()", DBP(P_S(expires)), 0, &ok)))
        return rc;
    if (expires[0] && !ok)
        jf_fail(&f, "expires_at", "must be in the future");
    if (!api_checked(c, &f, &rc))
        return rc;

    unsigned char raw[32], h[32];
    char key[64] = API_KEY_PREFIX, prefix[13];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(key + strlen(API_KEY_PREFIX), sizeof(key) - strlen(API_KEY_PREFIX), raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
    text_copy(prefix, sizeof(prefix), key);
    char email[80], display[120];
    snprintf(email, sizeof(email), "%s@api-keys.invalid", prefix);
    snprintf(display, sizeof(display), "API key: %s", name);
    struct db_result r;
    /* "!" is no argon2 string: the integration agent can never log in */
    rc = db_exec(c->db, "INSERT INTO agents (email, name, role, kind, team_id, password_hash) "
                        "VALUES (?, ?, ?, 'integration', ?, '!')",
                 DBP(P_S(email), P_S(display), P_S(role), has_team ? P_I(team) : P_NULL), &r);
    if (rc)
        return rc;
    int64_t agent = (int64_t)r.insert_id;
    db_result_free(&r);
    rc = db_exec(c->db, "INSERT INTO api_keys (name, agent_id, prefix, key_hash, rate_per_minute, created_by, expires_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 DBP(P_S(name), P_I(agent), P_S(prefix), P_SN((const char *)h, 32), P_I(has_rate ? rate : 600),
                     P_IOPT(c->me.id), P_S(expires[0] ? expires : NULL)), &r);
    if (rc)
        return rc;
    int64_t id = (int64_t)r.insert_id;
    db_result_free(&r);
    json_t *o = NULL;
    if ((rc = db_row_json_of(c->db, KEY_SELECT "WHERE k.id = ?", DBP(P_I(id)), &o)) || !o)
        return rc ? rc : DB_EOTHER;
    rc = api_audit(c, "api_key.created", "api_key", id, NULL, o);
    if (rc) {
        json_decref(o);
        return rc;
    }
    json_object_set_new(o, "key", json_string(key)); /* the only time it is shown */
    sodium_memzero(key, sizeof(key));
    log_info("api_keys", "event=created req=%llu key=%lld prefix=%s role=%s", (unsigned long long)c->req->id,
             (long long)id, prefix, role);
    return api_json(c, 201, o);
}

int api_keys_revoke(struct api_ctx *c)
{
    int64_t id = c->req->params.id[0];
    json_t *before = NULL;
    int rc = db_row_json_of(c->db, KEY_SELECT "WHERE k.id = ? FOR UPDATE", DBP(P_I(id)), &before);
    if (rc || !before)
        return rc ? rc : api_not_found(c);
    rc = db_exec(c->db, "UPDATE api_keys k JOIN agents a ON a.id = k.agent_id "
                        "SET k.revoked_at = COALESCE(k.revoked_at, NOW(3)), a.active = 0 WHERE k.id = ?",
                 DBP(P_I(id)), NULL);
    if (!rc)
        rc = api_audit(c, "api_key.revoked", "api_key", id, before, NULL);
    json_decref(before);
    return rc ? rc : api_json(c, 204, NULL);
}

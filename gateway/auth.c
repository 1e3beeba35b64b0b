/* auth.c — see auth.h. */
#include "gateway/auth.h"
#include "gateway/api_keys.h"
#include "gateway/scope.h"
#include "gateway/lib/text.h"
#include "gateway/log.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define THROTTLE_SLOTS 4096

struct throttle {
    char key[200];
    time_t window_start;
    int64_t failures;
};

static const struct sb_config *cfg;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct throttle table[THROTTLE_SLOTS];
static char dummy_hash[AUTH_HASH_MAX];

int auth_init(const struct sb_config *config)
{
    cfg = config;
    if (sodium_init() < 0)
        return -1;
    /* Verifying against this for unknown accounts keeps login time independent of
     * whether the e-mail exists. */
    return auth_hash_password("no-such-account-password", dummy_hash);
}

int auth_hash_password(const char *pw, char out[AUTH_HASH_MAX])
{
    return crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}

void auth_generate_password(char *out, size_t outsz)
{
    unsigned char raw[15];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, outsz, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

unsigned auth_role_bit(const char *role)
{
    static const char *const names[] = {"admin", "manager", "agent", "sales", "marketer"};
    for (unsigned i = 0; i < 5; i++)
        if (strcmp(role, names[i]) == 0)
            return 1u << i;
    return 0;
}

static void token_hash(const char *token, unsigned char out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

void auth_agent_from_row(const struct db_result *r, size_t col, struct agent_info *me)
{
    me->id = db_cell_i64(r, 0, col);
    text_copy(me->role, sizeof(me->role), db_cell(r, 0, col + 1));
    me->role_bit = auth_role_bit(me->role);
    me->team_id = db_cell_i64(r, 0, col + 2);
    text_copy(me->name, sizeof(me->name), db_cell(r, 0, col + 3));
    text_copy(me->email, sizeof(me->email), db_cell(r, 0, col + 4));
    text_copy(me->region, sizeof(me->region), db_cell(r, 0, col + 5));
    me->scope = scope_level_of(me->role_bit, db_cell(r, 0, col + 6));
}

int auth_token_agent(struct db *db, const char *token, struct agent_info *me)
{
    size_t n = strlen(token);
    if (n < 20 || n > 100)
        return 0;
    unsigned char h[32];
    token_hash(token, h);
    struct db_result r;
    int rc = db_exec(db,
                     "SELECT a.id, a.role, COALESCE(a.team_id, 0), a.name, a.email, COALESCE(a.region, ''), a.data_scope "
                     "FROM sessions s "
                     "JOIN agents a ON a.id = s.agent_id "
                     "WHERE s.token_hash = ? AND s.expires_at > NOW(3) AND a.active = 1",
                     DBP(P_SN((const char *)h, 32)), &r);
    if (rc)
        return rc;
    int found = r.nrows == 1;
    if (found)
        auth_agent_from_row(&r, 0, me);
    db_result_free(&r);
    return found;
}

int auth_authenticate(struct api_ctx *c)
{
    const char *tok = c->req->bearer[0] ? c->req->bearer : c->req->cookie_token;
    if (!tok[0])
        return 0;
    int rc;
    if (strncmp(tok, API_KEY_PREFIX, strlen(API_KEY_PREFIX)) == 0) {
        int64_t wait = 0;
        rc = api_key_authenticate(c->db, tok, c->req->ip, &c->me, &wait);
        if (wait > 0)
            snprintf(c->req->retry_after, sizeof(c->req->retry_after), "%lld", (long long)wait);
    } else {
        rc = auth_token_agent(c->db, tok, &c->me);
    }
    c->authed = rc == 1;
    return rc;
}

/* ---- throttle ---- */

static struct throttle *slot_for(const char *key, time_t now)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    struct throttle *t = &table[h % THROTTLE_SLOTS];
    if (strcmp(t->key, key) != 0 || now - t->window_start >= cfg->auth.login_window_secs) {
        /* a collision evicts the older entry: the table bounds memory, not fairness */
        text_copy(t->key, sizeof(t->key), key);
        t->window_start = now;
        t->failures = 0;
    }
    return t;
}

/* Returns seconds to wait when either key is over its limit, else 0. */
static int64_t throttle_check(const char *acct, const char *ip)
{
    time_t now = time(NULL);
    int64_t wait = 0;
    pthread_mutex_lock(&mu);
    struct throttle *a = slot_for(acct, now);
    if (a->failures >= cfg->auth.login_max_failures)
        wait = a->window_start + cfg->auth.login_window_secs - now;
    struct throttle *i = slot_for(ip, now);
    if (i->failures >= cfg->auth.login_max_ip) {
        int64_t w = i->window_start + cfg->auth.login_window_secs - now;
        wait = w > wait ? w : wait;
    }
    pthread_mutex_unlock(&mu);
    return wait;
}

static void throttle_fail(const char *acct, const char *ip)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&mu);
    slot_for(acct, now)->failures++;
    slot_for(ip, now)->failures++;
    pthread_mutex_unlock(&mu);
}

static void throttle_clear(const char *acct)
{
    pthread_mutex_lock(&mu);
    struct throttle *a = slot_for(acct, time(NULL));
    a->failures = 0;
    pthread_mutex_unlock(&mu);
}

/* ---- handlers ---- */

static json_t *agent_public(struct db *db, int64_t id)
{
    struct db_result r;
    if (db_exec(db, "SELECT id, email, name, role, team_id, region, active AS active__bool, created_at, last_login_at "
                    "FROM agents WHERE id = ?", DBP(P_I(id)), &r))
        return NULL;
    json_t *o = r.nrows ? db_row_json(&r, 0) : NULL;
    db_result_free(&r);
    return o;
}

static int create_session(struct api_ctx *c, int64_t agent_id, char token[64])
{
    unsigned char raw[32], h[32];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(token, 64, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    token_hash(token, h);
    int rc = db_exec(c->db, "INSERT INTO sessions (token_hash, agent_id, expires_at, ip) "
                            "VALUES (?, ?, NOW(3) + INTERVAL ? HOUR, ?)",
                     DBP(P_SN((const char *)h, 32), P_I(agent_id), P_I(cfg->auth.session_hours), P_S(c->req->ip)), NULL);
    if (!rc)
        rc = db_exec(c->db, "UPDATE agents SET last_login_at = NOW(3) WHERE id = ?", DBP(P_I(agent_id)), NULL);
    return rc;
}

int auth_login(struct api_ctx *c)
{
    if (api_body_object(c) < 0)
        return 0;
    const char *email = json_string_value(json_object_get(c->body, "email"));
    const char *pw = json_string_value(json_object_get(c->body, "password"));
    if (!email || !pw || !*email || !*pw) {
        json_t *f = json_object();
        if (!email || !*email)
            json_object_set_new(f, "email", json_string("is required"));
        if (!pw || !*pw)
            json_object_set_new(f, "password", json_string("is required"));
        return api_invalid(c, f);
    }
    char acct[200], ipkey[80], lower[160];
    text_copy(lower, sizeof(lower), email);
    text_lower(lower);
    snprintf(acct, sizeof(acct), "acct:%s", lower);
    snprintf(ipkey, sizeof(ipkey), "ip:%s", c->req->ip);
    int64_t wait = throttle_check(acct, ipkey);
    if (wait > 0) {
        snprintf(c->req->retry_after, sizeof(c->req->retry_after), "%lld", (long long)wait);
        log_warn("auth", "event=login_throttled req=%llu ip=%s", (unsigned long long)c->req->id, c->req->ip);
        return api_error(c, 429, "too_many_attempts", "too many failed logins; try again later");
    }
    struct db_result r;
    int rc = db_exec(c->db, "SELECT id, password_hash FROM agents WHERE email = ? AND active = 1",
                     DBP(P_S(lower)), &r);
    if (rc)
        return rc;
    const char *hash = r.nrows ? db_cell(&r, 0, 1) : dummy_hash;
    int64_t id = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    int ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0 && id > 0;
    db_result_free(&r);
    if (!ok) {
        throttle_fail(acct, ipkey);
        log_warn("auth", "event=login_failed req=%llu ip=%s", (unsigned long long)c->req->id, c->req->ip);
        return api_error(c, 401, "invalid_credentials", "wrong e-mail or password");
    }
    throttle_clear(acct);
    char token[64];
    if ((rc = create_session(c, id, token)))
        return rc;
    snprintf(c->req->set_cookie, sizeof(c->req->set_cookie),
             "sb_session=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld", token,
             (long long)cfg->auth.session_hours * 3600);
    json_t *agent = agent_public(c->db, id);
    return api_json(c, 200, json_pack("{s:s, s:o*}", "token", token, "agent", agent));
}

void auth_session_id(const char *token, char out[17])
{
    unsigned char h[32];
    token_hash(token, h);
    sodium_bin2hex(out, 17, h, 8);
}

int auth_logout(struct api_ctx *c)
{
    const char *tok = c->req->bearer[0] ? c->req->bearer : c->req->cookie_token;
    unsigned char h[32];
    char sid[17];
    token_hash(tok, h);
    auth_session_id(tok, sid);
    int rc = db_exec(c->db, "DELETE FROM sessions WHERE token_hash = ?", DBP(P_SN((const char *)h, 32)), NULL);
    if (!rc) /* open sockets of this session close on every node */
        rc = api_event(c, "session.revoked", 0, 0, c->me.id, 0, json_pack("{s:s}", "session", sid));
    if (rc)
        return rc;
    text_copy(c->req->set_cookie, sizeof(c->req->set_cookie),
              "sb_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    return api_json(c, 204, NULL);
}

int auth_me(struct api_ctx *c)
{
    json_t *a = agent_public(c->db, c->me.id);
    return a ? api_json(c, 200, a) : api_not_found(c);
}

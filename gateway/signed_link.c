/* signed_link.c — see signed_link.h. */
#include "gateway/signed_link.h"
#include "gateway/lib/text.h"
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char key[32];
static int have_key;

static int load_key(struct db *db)
{
    pthread_mutex_lock(&key_lock);
    int rc = DB_OK;
    if (!have_key) {
        struct db_result r;
        rc = db_exec(db, "SELECT value FROM settings WHERE name = 'unsubscribe_key'", DBP0, &r);
        if (!rc) {
            size_t n = 0;
            if (r.nrows && sodium_hex2bin(key, sizeof(key), db_cell(&r, 0, 0), strlen(db_cell(&r, 0, 0)), NULL, &n,
                                          NULL) == 0 && n == sizeof(key))
                have_key = 1;
            else
                rc = DB_EOTHER;
            db_result_free(&r);
        }
    }
    pthread_mutex_unlock(&key_lock);
    return rc;
}

int signed_link_mac(struct db *db, const char *head, const char *tail, char out[33])
{
    int rc = load_key(db);
    if (rc)
        return rc;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)head, strlen(head));
    if (tail)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tail, strlen(tail));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, 33, mac, 16);
    return DB_OK;
}

static int id_mac(struct db *db, const char *purpose, int64_t id, char out[33])
{
    char msg[96];
    snprintf(msg, sizeof(msg), "%s:%lld", purpose, (long long)id);
    return signed_link_mac(db, msg, NULL, out);
}

int signed_link_token(struct db *db, const char *purpose, int64_t id, char out[SIGNED_TOKEN_MAX])
{
    char mac[33];
    int rc = id_mac(db, purpose, id, mac);
    if (!rc)
        snprintf(out, SIGNED_TOKEN_MAX, "%lld-%s", (long long)id, mac);
    return rc;
}

int signed_link_verify(struct db *db, const char *purpose, const char *token, int64_t *id)
{
    const char *dash = strchr(token, '-');
    char idtxt[24], mac[33];
    if (!dash || strlen(dash + 1) != 32 || text_copy_n(idtxt, sizeof(idtxt), token, (size_t)(dash - token)) < 0 ||
        text_parse_i64(idtxt, id) < 0 || *id < 1)
        return 0;
    if (id_mac(db, purpose, *id, mac))
        return 0;
    return sodium_memcmp(mac, dash + 1, 32) == 0;
}

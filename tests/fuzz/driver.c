/* driver.c — a stand-in for libFuzzer when clang is not installed (scripts/fuzz.sh builds
 * it with gcc -fsanitize=address,undefined). Usage:
 *   driver [-runs=N] [-seed=S] DIR_OR_FILE...
 * Runs every corpus file once, then N (default 20000) inputs made by mutating corpus
 * entries (bit flips, byte sets, inserts, deletes, splices, interesting bytes) or random
 * bytes. The PRNG is seeded from -seed (default: time), printed first, so a failure is
 * reproducible; the failing input is also written to ./crash-<seed>-<n> (or
 * ./crash-corpus-<i> for a corpus file) when a sanitizer or abort() stops the process.
 * `driver -runs=0 FILE` replays just that input. */
#include "tests/fuzz/fuzz.h"
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_LEN 4096

struct input {
    uint8_t *data;
    size_t len;
};

static struct input *corpus;
static size_t ncorpus, acorpus;
static const uint8_t *current;
static size_t current_len;
static unsigned long long seed;
static long iteration = -1;
static size_t corpus_index;

static void save_current(void)
{
    char name[96];
    if (iteration < 0)
        snprintf(name, sizeof(name), "crash-corpus-%zu", corpus_index);
    else
        snprintf(name, sizeof(name), "crash-%llu-%ld", seed, iteration);
    FILE *f = fopen(name, "wb");
    if (!f)
        return;
    if (current_len)
        fwrite(current, 1, current_len, f);
    fclose(f);
    fprintf(stderr, "driver: input written to %s (%zu bytes)\n", name, current_len);
}

static void on_signal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Sanitizer runtimes call this before exiting on an error. */
__attribute__((weak)) void __sanitizer_set_death_callback(void (*cb)(void));

static void add(const uint8_t *d, size_t n)
{
    if (ncorpus == acorpus) {
        acorpus = acorpus ? acorpus * 2 : 64;
        corpus = realloc(corpus, acorpus * sizeof(*corpus));
        if (!corpus)
            abort();
    }
    corpus[ncorpus].data = malloc(n ? n : 1);
    if (!corpus[ncorpus].data)
        abort();
    if (n)
        memcpy(corpus[ncorpus].data, d, n);
    corpus[ncorpus].len = n;
    ncorpus++;
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    uint8_t *buf = malloc(MAX_LEN * 4);
    size_t n = buf ? fread(buf, 1, MAX_LEN * 4, f) : 0;
    fclose(f);
    if (buf)
        add(buf, n);
    free(buf);
}

static void load(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        load_file(p);
    }
    closedir(d);
}

static unsigned long long rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t mutate(uint8_t *buf, size_t len)
{
    static const uint8_t interesting[] = {0, 0xff, 0x7f, 0x80, '/', '{', '}', '"', '\\', '[', ']', '=', '\n',
                                          '@', '.', '+', ':', ' ', '0', '9', 0xc0, 0xe4, 0xed, 0xf4, 0xf5};
    int rounds = 1 + (int)(rnd() % 8);
    for (int r = 0; r < rounds; r++) {
        switch (rnd() % 7) {
        case 0: /* flip a bit */
            if (len)
                buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1: /* set a byte to something interesting */
            if (len)
                buf[rnd() % len] = interesting[rnd() % sizeof(interesting)];
            break;
        case 2: /* insert a byte */
            if (len < MAX_LEN) {
                size_t at = len ? rnd() % (len + 1) : 0;
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = rnd() % 2 ? (uint8_t)rnd() : interesting[rnd() % sizeof(interesting)];
                len++;
            }
            break;
        case 3: /* delete a run */
            if (len) {
                size_t at = rnd() % len, n = 1 + rnd() % (len - at);
                memmove(buf + at, buf + at + n, len - at - n);
                len -= n;
            }
            break;
        case 4: /* duplicate a run */
            if (len && len < MAX_LEN) {
                size_t at = rnd() % len, n = 1 + rnd() % (len - at);
                if (n > MAX_LEN - len)
                    n = MAX_LEN - len;
                memmove(buf + at + n, buf + at, len - at);
                len += n;
            }
            break;
        case 5: /* splice in part of another corpus entry */
            if (ncorpus) {
                const struct input *o = &corpus[rnd() % ncorpus];
                if (o->len) {
                    size_t from = rnd() % o->len, n = 1 + rnd() % (o->len - from);
                    size_t at = len ? rnd() % (len + 1) : 0;
                    if (n > MAX_LEN - at)
                        n = MAX_LEN - at;
                    memcpy(buf + at, o->data + from, n);
                    if (at + n > len)
                        len = at + n;
                }
            }
            break;
        default: /* truncate */
            if (len)
                len = rnd() % len;
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    long runs = 20000;
    seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-runs=", 6) == 0)
            runs = strtol(argv[i] + 6, NULL, 10);
        else if (strncmp(argv[i], "-seed=", 6) == 0)
            seed = strtoull(argv[i] + 6, NULL, 10);
        else if (argv[i][0] != '-')
            load(argv[i]);
    }
    rng_state = seed ? seed : 1;
    fprintf(stderr, "driver: seed=%llu corpus=%zu runs=%ld\n", seed, ncorpus, runs);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(save_current);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);

    for (size_t i = 0; i < ncorpus; i++) {
        corpus_index = i;
        current = corpus[i].data;
        current_len = corpus[i].len;
        LLVMFuzzerTestOneInput(current, current_len);
    }
    uint8_t *buf = malloc(MAX_LEN + 1);
    if (!buf)
        return 1;
    for (iteration = 0; iteration < runs; iteration++) {
        size_t len;
        if (!ncorpus || rnd() % 10 == 0) {
            len = rnd() % 256;
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rnd();
        } else {
            const struct input *base = &corpus[rnd() % ncorpus];
            len = base->len > MAX_LEN ? MAX_LEN : base->len;
            memcpy(buf, base->data, len);
            len = mutate(buf, len);
        }
        current = buf;
        current_len = len;
        LLVMFuzzerTestOneInput(buf, len);
    }
    fprintf(stderr, "driver: %ld inputs, no failure\n", runs + (long)ncorpus);
    free(buf);
    for (size_t i = 0; i < ncorpus; i++)
        free(corpus[i].data);
    free(corpus);
    return 0;
}

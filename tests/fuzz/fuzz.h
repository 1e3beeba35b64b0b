/* fuzz.h — shared by the libFuzzer harnesses in tests/fuzz/ and the standalone driver
 * scripts/fuzz.sh falls back to when clang's libFuzzer is missing.
 *
 * Each harness defines LLVMFuzzerTestOneInput (and optionally LLVMFuzzerInitialize) and
 * checks invariants of the code under test with FUZZ_CHECK, which aborts so that
 * libFuzzer (or the sanitizers under the standalone driver) report the input. */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

#endif

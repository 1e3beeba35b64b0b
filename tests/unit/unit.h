/* unit.h — what every cmocka unit test includes: cmocka with the headers it needs first,
 * plus small string assertions. Helpers are static inline so a test that does not use one
 * does not trip -Wunused-function. */
#ifndef SB_UNIT_H
#define SB_UNIT_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Fails with both strings shown when needle is not in haystack. */
#define assert_contains(haystack, needle) \
    unit_assert_contains((haystack), (needle), __FILE__, __LINE__)

static inline void unit_assert_contains(const char *hay, const char *needle, const char *file, int line)
{
    if (hay && needle && strstr(hay, needle))
        return;
    print_error("\"%s\" does not contain \"%s\"\n", hay ? hay : "(null)", needle ? needle : "(null)");
    _fail(file, line);
}

#define assert_not_contains(haystack, needle) \
    unit_assert_not_contains((haystack), (needle), __FILE__, __LINE__)

static inline void unit_assert_not_contains(const char *hay, const char *needle, const char *file, int line)
{
    if (!hay || !needle || !strstr(hay, needle))
        return;
    print_error("\"%s\" unexpectedly contains \"%s\"\n", hay, needle);
    _fail(file, line);
}

#endif

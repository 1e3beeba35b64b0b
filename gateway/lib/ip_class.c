/* ip_class.c — see ip_class.h. */
#include "gateway/lib/ip_class.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

struct range4 {
    uint32_t net;
    int bits;
};

/* IANA special-purpose IPv4 ranges (RFC 6890 and successors) not globally reachable. */
static const struct range4 not_public4[] = {
    {0x00000000, 8},  /* "this network" */
    {0x0A000000, 8},  /* private */
    {0x64400000, 10}, /* shared address space (CGNAT) */
    {0x7F000000, 8},  /* loopback */
    {0xA9FE0000, 16}, /* link-local, cloud metadata */
    {0xAC100000, 12}, /* private */
    {0xC0000000, 24}, /* IETF protocol assignments */
    {0xC0000200, 24}, /* TEST-NET-1 */
    {0xC0A80000, 16}, /* private */
    {0xC6120000, 15}, /* benchmarking */
    {0xC6336400, 24}, /* TEST-NET-2 */
    {0xCB007100, 24}, /* TEST-NET-3 */
    {0xE0000000, 4},  /* multicast */
    {0xF0000000, 4},  /* reserved, broadcast */
};

static bool v4_public(uint32_t a)
{
    for (size_t k = 0; k < sizeof(not_public4) / sizeof(not_public4[0]); k++) {
        uint32_t mask = 0xFFFFFFFFu << (32 - not_public4[k].bits);
        if ((a & mask) == not_public4[k].net)
            return false;
    }
    return true;
}

static bool v6_public(const unsigned char *b)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const unsigned char nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return v4_public((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
    static const unsigned char zero[15] = {0};
    if (memcmp(b, zero, 15) == 0) /* :: and ::1 */
        return false;
    if ((b[0] & 0xFE) == 0xFC)     /* fc00::/7 unique local */
        return false;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) /* fe80::/10 link-local */
        return false;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) /* fec0::/10 site-local (deprecated) */
        return false;
    if (b[0] == 0xFF)               /* multicast */
        return false;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8) /* 2001:db8::/32 documentation */
        return false;
    if (b[0] == 0x3F && b[1] == 0xFF && (b[2] & 0xF0) == 0) /* 3fff::/20 documentation */
        return false;
    if (b[0] == 0x01 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0)
        return false;               /* 100::/64 discard */
    return (b[0] & 0xE0) == 0x20;   /* only 2000::/3 is global unicast */
}

bool ip_is_public(const struct sockaddr *sa)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return v4_public(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        return v6_public(in6->sin6_addr.s6_addr);
    }
    return false;
}

bool ip_text_is_public(const char *s)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, s, &in.sin_addr) == 1)
        return ip_is_public((const struct sockaddr *)&in);
    if (inet_pton(AF_INET6, s, &in6.sin6_addr) == 1)
        return ip_is_public((const struct sockaddr *)&in6);
    return false;
}

/* ip_class.h — is an address on the public Internet? For outbound requests to addresses
 * users chose (webhooks): refusing loopback, private, link-local, shared (CGNAT),
 * unspecified, multicast, reserved and documentation ranges keeps a webhook from reaching
 * the gateway's own network (SSRF). IPv4-mapped and NAT64 IPv6 addresses are judged by the
 * IPv4 address inside.
 *
 * Owns: nothing. Thread: any. Errors: none; unknown families are not public.
 */
#ifndef SB_IP_CLASS_H
#define SB_IP_CLASS_H
#include <stdbool.h>
#include <sys/socket.h>

bool ip_is_public(const struct sockaddr *sa);
/* The same for a literal ("10.0.0.1", "::1"); false when s is no address literal. */
bool ip_text_is_public(const char *s);

#endif

/* templates.h — personalising a message template for one customer (api_templates.c):
 * the variables every template sees, and one part rendered.
 *
 * Context: {"customer": the record as GET /customers/{id} shows it (customer.attrs.* are
 * the custom fields), "agent": {id, name, email} of whoever sends, "campaign": {id, name}
 * or null, "unsubscribe_url": the recipient's own link or ""}.
 *
 * Thread: any (no shared state). Errors: template_part_render returns 0 with *out (the
 * caller frees; NULL when src is NULL), or -1 with "line L, column C: reason" in why.
 */
#ifndef SB_TEMPLATES_H
#define SB_TEMPLATES_H
#include <jansson.h>
#include <stddef.h>

/* A new context object; the arguments are not consumed (NULL = null). */
json_t *template_context(json_t *customer, json_t *agent, json_t *campaign, const char *unsubscribe_url);
/* html: TEMPLATE_HTML (escaped) rather than TEMPLATE_TEXT. */
int template_part_render(const char *src, json_t *ctx, int html, char **out, char *why, size_t whysz);

/* Adds the default templates of dir (templates/ in the repository: CHANNEL/NAME.PART.mustache,
 * see templates/README.md) that the database lacks by name; edited ones are never
 * overwritten. Every file is compiled first. 0 with *added; -1 with "file:line:col: reason"
 * (or a database error) in err. Thread: the CLI. */
struct db;
int templates_load_dir(struct db *db, const char *dir, int *added, char *err, size_t errsz);

#endif

/* objects.h — custom objects (docs/objects.md): record types administrators define at
 * run time (object_types, object_fields) and their records (object_records, with one
 * typed object_values row per value for filters and segment conditions). No DDL at run
 * time; a new type or field is usable by the next request.
 *
 * api_objects.c owns the REST surface (/api/v1/object-types, /api/v1/objects/{type});
 * this header is what other modules use: the customer 360 section.
 *
 * Thread: db-pool threads, inside the caller's transaction. Errors: db_rc values.
 */
#ifndef SB_OBJECTS_H
#define SB_OBJECTS_H
#include <jansson.h>
#include <stdint.h>
#include "gateway/db.h"

/* The customer 360 section: one entry per type {type, label, label_plural, fields, total,
 * items (newest 20)}; the customer's scope is the caller's business. */
int objects_of_customer(struct db *db, int64_t customer_id, json_t **out);

#endif

/* reports.h — GET /api/v1/reports/{name}: the service, agents, sales, marketing and
 * customers reports of docs/reports.md (the contract: parameters, datasets, figures,
 * who may read what).
 *
 * A report is a table of datasets; a dataset is one prepared SELECT over indexed columns
 * whose parameters are named by a short code string (period, filters, the caller's scope),
 * so no SQL is ever built from the request. The answer is JSON with every dataset, or one
 * dataset as CSV (formula-neutralised cells, csv.h).
 *
 * Owns: nothing. Thread: db-pool threads (API handler).
 * Errors: 400 for bad parameters, 403 outside the caller's role, 404 for an unknown
 * report; database errors as db_rc (api.h).
 */
#ifndef SB_REPORTS_H
#define SB_REPORTS_H
#include "gateway/api.h"

int reports_get(struct api_ctx *c);

#endif

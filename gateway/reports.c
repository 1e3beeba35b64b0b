/* reports.c — see reports.h; the figures are defined in docs/reports.md. */
#include "gateway/reports.h"
#include "gateway/auth.h"
#include "gateway/campaign_results.h"
#include "gateway/lib/csv.h"
#include "gateway/lib/text.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Parameter codes of a dataset's statement, in order of its placeholders:
 *   f from (period start)  e end (the day after `to`)  t team id (0 all)  c channel ('' all)
 *   r caller's role  m caller's team  i caller's id  s silent_days  a attribution days */
struct report_args {
    char from[20], end[20];
    char from_day[11], to_day[11];
    int64_t team;
    char channel[8];
    int64_t silent_days;
    const struct agent_info *me;
};

struct dataset {
    const char *name;
    const char *binds;
    const char *sql;
};

struct report {
    const char *name;
    unsigned roles;
    const struct dataset *sets;
    size_t nsets;
};

/* ---- filters shared by the statements ---- */

#define PERIOD(col) " " col " >= ? AND " col " < ? "
/* Tickets t: team, channel, and a manager's teams (own, managed, none). */
#define T_FILTER                                                                                  \
    " AND (? = 0 OR t.team_id = ?) AND (? = '' OR t.channel = ?) AND (? = 'admin' OR t.team_id = ? " \
    "OR t.team_id IS NULL OR t.team_id IN (SELECT tm.id FROM teams tm WHERE tm.manager_id = ?)) "
#define T_BINDS "ttccrmi"
/* Deals d: the owner's team; a seller's own deals; a manager's teams' deals. */
#define D_FILTER                                                                                      \
    " AND (? = 0 OR d.owner_id IN (SELECT x.id FROM agents x WHERE x.team_id = ?)) "                  \
    "AND (? <> 'sales' OR d.owner_id = ?) AND (? <> 'manager' OR d.owner_id IN (SELECT x.id FROM "   \
    "agents x WHERE x.team_id = ? OR x.team_id IN (SELECT tm.id FROM teams tm WHERE tm.manager_id = ?))) "
#define D_BINDS "ttrirmi"
/* Customers c: not merged away; a seller's own. */
#define C_FILTER " AND c.merged_into IS NULL AND (? <> 'sales' OR c.owner_id = ?) "
#define C_BINDS "ri"

/* ---- service ---- */

static const struct dataset service_sets[] = {
    {"volume", "fe" T_BINDS,
     "SELECT DATE(t.created_at) AS day, CONCAT(t.channel) AS channel, COUNT(*) AS tickets FROM tickets t "
     "WHERE" PERIOD("t.created_at") T_FILTER "GROUP BY day, channel ORDER BY day, channel"},
    {"backlog", "fe" "fe" T_BINDS "fe" T_BINDS "f" T_BINDS "ff" T_BINDS,
     "WITH RECURSIVE d (day) AS (SELECT CAST(? AS DATE) UNION ALL SELECT day + INTERVAL 1 DAY FROM d "
     "  WHERE day + INTERVAL 1 DAY < CAST(? AS DATE)), "
     "cr AS (SELECT DATE(t.created_at) AS day, COUNT(*) AS n FROM tickets t WHERE" PERIOD("t.created_at")
     T_FILTER "GROUP BY day), "
     "so AS (SELECT DATE(t.solved_at) AS day, COUNT(*) AS n FROM tickets t WHERE" PERIOD("t.solved_at")
     T_FILTER "GROUP BY day), "
     /* open at the start: unsolved, or solved since; two small ranges, not all history */
     "base AS (SELECT (SELECT COUNT(*) FROM tickets t WHERE t.solved_at IS NULL AND t.created_at < ?" T_FILTER ") + "
     "  (SELECT COUNT(*) FROM tickets t WHERE t.solved_at >= ? AND t.created_at < ?" T_FILTER ") AS n) "
     "SELECT d.day, COALESCE(cr.n, 0) AS created, COALESCE(so.n, 0) AS solved, "
     "  base.n + SUM(COALESCE(cr.n, 0) - COALESCE(so.n, 0)) OVER (ORDER BY d.day) AS backlog "
     "FROM d CROSS JOIN base LEFT JOIN cr ON cr.day = d.day LEFT JOIN so ON so.day = d.day ORDER BY d.day"},
    {"response", "fe" T_BINDS,
     "WITH x AS (SELECT CONCAT(t.channel) AS channel, TIMESTAMPDIFF(SECOND, t.created_at, t.first_response_at) AS frt, "
     "  TIMESTAMPDIFF(SECOND, t.created_at, t.solved_at) AS rt FROM tickets t WHERE" PERIOD("t.created_at") T_FILTER "), "
     "y AS (SELECT channel, frt, rt FROM x UNION ALL SELECT 'all', frt, rt FROM x), "
     "p AS (SELECT DISTINCT channel, "
     "  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY frt) OVER (PARTITION BY channel) AS f50, "
     "  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY frt) OVER (PARTITION BY channel) AS f90, "
     "  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY rt) OVER (PARTITION BY channel) AS r50, "
     "  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY rt) OVER (PARTITION BY channel) AS r90 FROM y) "
     "SELECT y.channel, COUNT(*) AS tickets, COUNT(y.frt) AS responded, ROUND(p.f50, 1) AS first_response_median_secs, "
     "  ROUND(p.f90, 1) AS first_response_p90_secs, COUNT(y.rt) AS solved, ROUND(p.r50, 1) AS resolution_median_secs, "
     "  ROUND(p.r90, 1) AS resolution_p90_secs "
     "FROM y JOIN p ON p.channel = y.channel GROUP BY y.channel, p.f50, p.f90, p.r50, p.r90 "
     "ORDER BY y.channel = 'all', y.channel"},
    {"sla", "fe" T_BINDS,
     "WITH x AS (SELECT CONCAT(t.channel) AS channel, (t.sla_breached = 1 OR (t.solved_at IS NOT NULL AND "
     "  t.solved_at > t.sla_due_at) OR (t.solved_at IS NULL AND t.sla_due_at < NOW(3))) AS breached, "
     "  t.solved_at IS NOT NULL AS solved FROM tickets t WHERE" PERIOD("t.created_at")
     "AND t.sla_due_at IS NOT NULL" T_FILTER "), "
     "y AS (SELECT channel, breached, solved FROM x UNION ALL SELECT 'all', breached, solved FROM x) "
     "SELECT channel, COUNT(*) AS with_sla, SUM(NOT breached AND solved) AS met, SUM(breached) AS breached, "
     "  SUM(NOT breached AND NOT solved) AS pending, "
     "  ROUND(SUM(NOT breached AND solved) / NULLIF(SUM(NOT breached AND solved) + SUM(breached), 0), 4) AS attainment "
     "FROM y GROUP BY channel ORDER BY channel = 'all', channel"},
#define CSAT_FROM                                                                                   \
    "COUNT(*) AS ratings, ROUND(AVG(r.rating), 2) AS average, ROUND(SUM(r.rating >= 4) / COUNT(*), 4) AS satisfied " \
    "FROM csat_responses r JOIN tickets t ON t.id = r.ticket_id "
#define CSAT_WHERE                                                                                  \
    "WHERE" PERIOD("r.created_at") "AND (? = 0 OR r.team_id = ?) AND (? = '' OR r.channel = ?) "    \
    "AND (? = 'admin' OR t.team_id = ? OR t.team_id IS NULL OR t.team_id IN (SELECT tm.id FROM teams tm " \
    "WHERE tm.manager_id = ?)) "
    {"csat_by_agent", "fe" T_BINDS,
     "SELECT r.agent_id, a.name, " CSAT_FROM "LEFT JOIN agents a ON a.id = r.agent_id " CSAT_WHERE
     "GROUP BY r.agent_id, a.name ORDER BY ratings DESC, a.name"},
    {"csat_by_team", "fe" T_BINDS,
     "SELECT r.team_id, tm2.name, " CSAT_FROM "LEFT JOIN teams tm2 ON tm2.id = r.team_id " CSAT_WHERE
     "GROUP BY r.team_id, tm2.name ORDER BY ratings DESC, tm2.name"},
    {"csat_by_channel", "fe" T_BINDS,
     "SELECT r.channel, " CSAT_FROM CSAT_WHERE "GROUP BY r.channel ORDER BY ratings DESC, r.channel"},
    {"flagged", "fe" T_BINDS,
     "SELECT t.id AS ticket_id, t.subject, CONCAT(t.channel) AS channel, CONCAT(t.priority) AS priority, "
     "CONCAT(t.status) AS status, t.flag_reason, t.flagged_at, a.name AS assignee FROM tickets t "
     "LEFT JOIN agents a ON a.id = t.assignee_id WHERE" PERIOD("t.flagged_at") T_FILTER
     "ORDER BY t.flagged_at DESC, t.id DESC LIMIT 200"},
};

/* ---- agents ---- */

static const struct dataset agents_sets[] = {
    {"agents", "ttrmi" "fecc" "fecc" "cc" "fe" "f" "fefe",
     "WITH ag AS (SELECT a.id, a.name, tm.name AS team FROM agents a LEFT JOIN teams tm ON tm.id = a.team_id "
     "  WHERE a.active = 1 AND a.kind = 'person' AND a.role IN ('agent', 'manager') AND (? = 0 OR a.team_id = ?) "
     "  AND (? = 'admin' OR a.team_id = ? OR a.team_id IN (SELECT tm3.id FROM teams tm3 WHERE tm3.manager_id = ?))), "
     "h AS (SELECT t.assignee_id AS agent_id, COUNT(*) AS handled, SUM(TIMESTAMPDIFF(SECOND, COALESCE("
     "    (SELECT MAX(o.offered_at) FROM ticket_offers o WHERE o.ticket_id = t.id AND o.agent_id = t.assignee_id "
     "     AND o.outcome IN ('accepted', 'auto')), t.created_at), t.solved_at)) AS handle "
     /* the period's solved tickets, not each agent's whole history (ix_tickets_assignee) */
     "  FROM ag JOIN tickets t FORCE INDEX (ix_tickets_solved) ON t.assignee_id = ag.id WHERE" PERIOD("t.solved_at")
     "  AND (? = '' OR t.channel = ?) GROUP BY t.assignee_id), "
     /* joined, not "IN (SELECT …)": as a semi-join that read every message */
     "rp AS (SELECT m.author_id AS agent_id, COUNT(*) AS n FROM ag JOIN messages m ON m.author_id = ag.id "
     "  WHERE" PERIOD("m.created_at") "AND m.direction = 'out' AND m.author_type = 'agent' AND m.internal = 0 "
     "  AND (? = '' OR m.channel = ?) GROUP BY m.author_id), "
     "op AS (SELECT t.assignee_id AS agent_id, COUNT(*) AS n FROM ag JOIN tickets t ON t.assignee_id = ag.id "
     "  WHERE t.status IN ('new', 'open') AND (? = '' OR t.channel = ?) GROUP BY t.assignee_id), "
     /* the period's presence events and, per agent, the last one before it (its status
      * carries in) */
     "pe AS (SELECT e.agent_id, e.id, e.created_at, e.payload FROM ag JOIN events e FORCE INDEX (ix_events_agent) "
     "  ON e.agent_id = ag.id "
     "  AND e.kind = 'agent.presence' WHERE" PERIOD("e.created_at")
     "  UNION ALL SELECT e.agent_id, e.id, e.created_at, e.payload FROM ag JOIN events e ON e.id = "
     "  (SELECT e2.id FROM events e2 WHERE e2.agent_id = ag.id AND e2.kind = 'agent.presence' AND e2.created_at < ? "
     "   ORDER BY e2.created_at DESC, e2.id DESC LIMIT 1)), "
     "pr AS (SELECT agent_id, JSON_VALUE(payload, '$.status') AS status, created_at AS at, "
     "  LEAD(created_at) OVER (PARTITION BY agent_id ORDER BY created_at, id) AS next_at FROM pe), "
     "onl AS (SELECT agent_id, SUM(GREATEST(0, TIMESTAMPDIFF(SECOND, GREATEST(at, CAST(? AS DATETIME)), "
     "  LEAST(COALESCE(next_at, NOW(3)), NOW(3), CAST(? AS DATETIME))))) AS secs FROM pr WHERE status = 'online' "
     "  AND COALESCE(next_at, NOW(3)) > ? AND at < ? GROUP BY agent_id) "
     "SELECT ag.id AS agent_id, ag.name, ag.team, COALESCE(h.handled, 0) AS handled, COALESCE(rp.n, 0) AS replies, "
     "  COALESCE(op.n, 0) AS open_now, ROUND(h.handle / h.handled) AS avg_handle_secs, "
     "  COALESCE(onl.secs, 0) AS online_secs, ROUND(COALESCE(h.handle, 0) / NULLIF(onl.secs, 0), 4) AS occupancy, "
     "  ROW_NUMBER() OVER (ORDER BY COALESCE(h.handled, 0) DESC, h.handled IS NULL, h.handle / h.handled, ag.name, "
     "  ag.id) AS `rank` "
     "FROM ag LEFT JOIN h ON h.agent_id = ag.id LEFT JOIN rp ON rp.agent_id = ag.id "
     "LEFT JOIN op ON op.agent_id = ag.id LEFT JOIN onl ON onl.agent_id = ag.id ORDER BY `rank`"},
};

/* ---- sales ---- */

#define REACHED                                                                                    \
    "SELECT h.to_stage_id AS stage_id, d.currency, COUNT(DISTINCT d.id) AS n FROM deals d "        \
    "JOIN deal_stage_history h ON h.deal_id = d.id WHERE" PERIOD("d.created_at") D_FILTER

static const struct dataset sales_sets[] = {
    {"funnel", "fe" D_BINDS D_BINDS,
     "WITH s AS (SELECT id, name, position FROM pipeline_stages WHERE active = 1), "
     "r AS (" REACHED "GROUP BY h.to_stage_id, d.currency), "
     "o AS (SELECT d.stage_id, d.currency, COUNT(*) AS n, SUM(d.amount) AS amt FROM deals d "
     "  WHERE d.status = 'open'" D_FILTER "GROUP BY d.stage_id, d.currency), "
     "k AS (SELECT stage_id, currency FROM r UNION SELECT stage_id, currency FROM o) "
     "SELECT s.id AS stage_id, s.name AS stage, s.position, COALESCE(r.n, 0) AS reached, COALESCE(o.n, 0) AS open_deals, "
     "  CAST(COALESCE(o.amt, 0.00) AS CHAR) AS open_amount, k.currency "
     "FROM s LEFT JOIN k ON k.stage_id = s.id LEFT JOIN r ON r.stage_id = s.id AND r.currency = k.currency "
     "LEFT JOIN o ON o.stage_id = s.id AND o.currency = k.currency ORDER BY s.position, s.id, k.currency"},
    {"stages", "fe" D_BINDS "fe" D_BINDS,
     "WITH s AS (SELECT id, name, position, LEAD(id) OVER (ORDER BY position, id) AS next_id FROM pipeline_stages "
     "  WHERE active = 1), "
     "r AS (SELECT stage_id, SUM(n) AS n FROM (" REACHED "GROUP BY h.to_stage_id, d.currency) rr GROUP BY stage_id), "
     "ts AS (SELECT h.from_stage_id AS stage_id, ROUND(AVG(h.secs_in_from)) AS secs FROM deal_stage_history h "
     "  JOIN deals d ON d.id = h.deal_id WHERE" PERIOD("h.at") "AND h.from_stage_id IS NOT NULL" D_FILTER
     "  GROUP BY h.from_stage_id) "
     "SELECT s.id AS stage_id, s.name AS stage, s.position, COALESCE(r.n, 0) AS reached, "
     "  IF(s.next_id IS NULL, NULL, COALESCE(rn.n, 0)) AS next_reached, "
     "  IF(s.next_id IS NULL, NULL, ROUND(COALESCE(rn.n, 0) / NULLIF(r.n, 0), 4)) AS conversion, "
     "  ts.secs AS avg_secs_in_stage "
     "FROM s LEFT JOIN r ON r.stage_id = s.id LEFT JOIN r rn ON rn.stage_id = s.next_id "
     "LEFT JOIN ts ON ts.stage_id = s.id ORDER BY s.position, s.id"},
    {"win_loss", "fe" D_BINDS,
     "SELECT CONCAT(d.status) AS status, COALESCE(d.win_loss_reason, '') AS reason, COUNT(*) AS deals, "
     "CAST(SUM(d.amount) AS CHAR) AS amount, d.currency FROM deals d WHERE" PERIOD("d.closed_at")
     "AND d.status IN ('won', 'lost')" D_FILTER "GROUP BY status, reason, d.currency "
     "ORDER BY status DESC, deals DESC, reason, d.currency"},
    {"forecast", D_BINDS,
     "SELECT COALESCE(DATE_FORMAT(d.expected_close, '%Y-%m'), 'none') AS month, d.currency, COUNT(*) AS open_deals, "
     "CAST(SUM(d.amount) AS CHAR) AS amount, "
     "CAST(ROUND(SUM(d.amount * COALESCE(d.probability, s.probability) / 100), 2) AS CHAR) AS weighted "
     "FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id WHERE d.status = 'open'" D_FILTER
     "GROUP BY month, d.currency ORDER BY month = 'none', month, d.currency"},
    {"people", "fe" D_BINDS D_BINDS "fe",
     /* deals closed in the period, and open ones: not every deal ever */
     "WITH dd AS (SELECT d.owner_id, d.currency, CONCAT(d.status) AS status, d.amount FROM deals d "
     "  FORCE INDEX (ix_deals_closed) WHERE" PERIOD("d.closed_at") "AND d.status IN ('won', 'lost') AND d.owner_id IS NOT NULL" D_FILTER
     "  UNION ALL SELECT d.owner_id, d.currency, 'open', d.amount FROM deals d FORCE INDEX (ix_deals_won) "
     "  WHERE d.status = 'open' "
     "  AND d.owner_id IS NOT NULL" D_FILTER "), "
     "x AS (SELECT owner_id, currency, SUM(status = 'won') AS won, SUM(IF(status = 'won', amount, 0)) AS won_amount, "
     "  SUM(status = 'lost') AS lost, SUM(status = 'open') AS open FROM dd GROUP BY owner_id, currency), "
     /* the period's activities, then their owners: by owner it read each one's history */
     "ac AS (SELECT a.owner_id, COUNT(*) AS n FROM activities a FORCE INDEX (ix_activities_happened) "
     "  JOIN (SELECT DISTINCT owner_id FROM x) o ON o.owner_id = a.owner_id WHERE" PERIOD("a.happened_at")
     "  GROUP BY a.owner_id) "
     "SELECT x.owner_id, ag.name, x.won AS won_deals, CAST(x.won_amount AS CHAR) AS won_amount, x.lost AS lost_deals, "
     "  ROUND(x.won / NULLIF(x.won + x.lost, 0), 4) AS win_rate, x.open AS open_deals, "
     "  IF(ROW_NUMBER() OVER (PARTITION BY x.owner_id ORDER BY x.currency) = 1, COALESCE(ac.n, 0), 0) AS activities, "
     "  x.currency "
     "FROM x JOIN agents ag ON ag.id = x.owner_id LEFT JOIN ac ON ac.owner_id = x.owner_id "
     "ORDER BY x.won_amount DESC, ag.name, x.owner_id, x.currency"},
};

/* ---- marketing ---- */

#define CAMPAIGNS_IN_PERIOD                                                                          \
    "WITH cs AS (SELECT c.id, c.name, CONCAT(c.channel) AS channel, c.started_at, c.cost FROM campaigns c " \
    "  WHERE c.kind = 'campaign' AND" PERIOD("c.started_at") "AND (? = '' OR c.channel = ?)), "       \
    "n AS (SELECT r.campaign_id, SUM(r.state <> 'skipped') AS recipients, SUM(r.state = 'sent') AS sent, " \
    "  COUNT(r.delivered_at) AS delivered, COUNT(r.opened_at) AS opened, COUNT(r.clicked_at) AS clicked, " \
    "  COUNT(r.replied_at) AS replied, COUNT(r.unsubscribed_at) AS unsubscribed FROM campaign_recipients r " \
    "  WHERE r.campaign_id IN (SELECT id FROM cs) GROUP BY r.campaign_id), "                          \
    "v (campaign_id, currency, deals, revenue) AS ("                                                  \
    ATTRIBUTED_DEALS("c.id, d.currency", "CAST(? AS DATETIME)", "r.campaign_id IN (SELECT id FROM cs)",            \
                     "c.id, d.currency") ") "
#define RATE(x) "ROUND(SUM(n." x ") / NULLIF(SUM(n.sent), 0), 4)"

static const struct dataset marketing_sets[] = {
    {"campaigns", "fecc" "af",
     CAMPAIGNS_IN_PERIOD
     "SELECT cs.id AS campaign_id, cs.name, cs.channel, cs.started_at, COALESCE(n.recipients, 0) AS recipients, "
     "  COALESCE(n.sent, 0) AS sent, COALESCE(n.delivered, 0) AS delivered, COALESCE(n.opened, 0) AS opened, "
     "  COALESCE(n.clicked, 0) AS clicked, COALESCE(n.replied, 0) AS replied, "
     "  COALESCE(n.unsubscribed, 0) AS unsubscribed, COALESCE(v.deals, 0) AS converted, "
     "  CAST(COALESCE(v.revenue, 0.00) AS CHAR) AS revenue, v.currency, CAST(cs.cost AS CHAR) AS cost, "
     "  ROUND((COALESCE(v.revenue, 0) - cs.cost) / NULLIF(cs.cost, 0), 4) AS roi "
     "FROM cs LEFT JOIN n ON n.campaign_id = cs.id LEFT JOIN v ON v.campaign_id = cs.id "
     "ORDER BY cs.started_at, cs.id, v.currency"},
    {"channels", "fecc" "af",
     CAMPAIGNS_IN_PERIOD
     ", vv AS (SELECT campaign_id, SUM(deals) AS deals FROM v GROUP BY campaign_id) "
     "SELECT cs.channel, COUNT(*) AS campaigns, COALESCE(SUM(n.sent), 0) AS sent, "
     "  COALESCE(SUM(n.delivered), 0) AS delivered, COALESCE(SUM(n.opened), 0) AS opened, "
     "  COALESCE(SUM(n.clicked), 0) AS clicked, COALESCE(SUM(n.replied), 0) AS replied, "
     "  COALESCE(SUM(n.unsubscribed), 0) AS unsubscribed, COALESCE(SUM(vv.deals), 0) AS converted, "
     "  " RATE("delivered") " AS delivered_rate, " RATE("opened") " AS open_rate, " RATE("clicked") " AS click_rate, "
     "  " RATE("replied") " AS reply_rate, " RATE("unsubscribed") " AS unsubscribe_rate, "
     "  ROUND(SUM(vv.deals) / NULLIF(SUM(n.sent), 0), 4) AS conversion_rate "
     "FROM cs LEFT JOIN n ON n.campaign_id = cs.id LEFT JOIN vv ON vv.campaign_id = cs.id "
     "GROUP BY cs.channel ORDER BY cs.channel"},
};

/* ---- customers ---- */

/* The period's buyers (a won deal closed in it), per currency, with all their won deals up
 * to its end: index ranges over the period's wins and then per buyer, not every deal. */
#define BUYERS                                                                                     \
    "WITH pb AS (SELECT DISTINCT d.customer_id, d.currency FROM deals d WHERE d.status = 'won' "   \
    "  AND" PERIOD("d.closed_at") "), "                                                            \
    "b AS (SELECT pb.customer_id, pb.currency, COUNT(*) AS n, SUM(d.amount) AS amt FROM pb "       \
    "  JOIN customers c ON c.id = pb.customer_id JOIN deals d ON d.customer_id = pb.customer_id "  \
    "  AND d.status = 'won' AND d.closed_at < ? AND d.currency = pb.currency WHERE 1 = 1" C_FILTER \
    "  GROUP BY pb.customer_id, pb.currency) "
#define BUYERS_BINDS "fe" "e" C_BINDS

static const struct dataset customers_sets[] = {
    {"new_by_source", "fe" C_BINDS,
     /* FORCE INDEX: "merged_into IS NULL" lured the optimizer to ix_customers_merged, which
      * is every customer (bench/reports.js counts the rows read) */
     "SELECT DATE(c.created_at) AS day, COALESCE(c.source, '') AS source, COUNT(*) AS customers FROM customers c "
     "FORCE INDEX (ix_customers_created) WHERE" PERIOD("c.created_at") C_FILTER "GROUP BY day, source ORDER BY day, source"},
    {"repurchase", BUYERS_BINDS,
     BUYERS "SELECT currency, COUNT(*) AS buyers, SUM(n >= 2) AS repeat_buyers, "
     "ROUND(SUM(n >= 2) / COUNT(*), 4) AS repurchase_rate FROM b GROUP BY currency ORDER BY currency"},
    {"lifetime_value", BUYERS_BINDS,
     BUYERS "SELECT currency, COUNT(*) AS customers, CAST(SUM(amt) AS CHAR) AS revenue, "
     "CAST(ROUND(SUM(amt) / COUNT(*), 2) AS CHAR) AS average FROM b GROUP BY currency ORDER BY currency"},
    {"top_customers", BUYERS_BINDS,
     BUYERS "SELECT b.customer_id, c.name, b.n AS won_deals, CAST(b.amt AS CHAR) AS revenue, b.currency "
     "FROM b JOIN customers c ON c.id = b.customer_id ORDER BY b.amt DESC, c.name, b.customer_id LIMIT 20"},
    {"churn", "eee" "ee" "fses" "fses" C_BINDS "e",
     /* the 60 days' tickets and the 30 days' flags, counted per customer in one range each */
     "WITH tk AS (SELECT t.customer_id, SUM(t.created_at >= CAST(? AS DATETIME) - INTERVAL 30 DAY) AS recent, "
     "  COUNT(*) AS total FROM tickets t WHERE t.created_at >= CAST(? AS DATETIME) - INTERVAL 60 DAY "
     "  AND t.created_at < CAST(? AS DATETIME) GROUP BY t.customer_id), "
     "fl AS (SELECT t.customer_id, COUNT(*) AS n FROM tickets t WHERE t.flagged_at >= CAST(? AS DATETIME) - INTERVAL 30 DAY "
     "  AND t.flagged_at < CAST(? AS DATETIME) GROUP BY t.customer_id), "
     "k AS (SELECT c.id, c.name, c.owner_id, c.last_contact_at, COALESCE(tk.recent, 0) AS recent, "
     "  COALESCE(tk.total, 0) - COALESCE(tk.recent, 0) AS earlier, COALESCE(fl.n, 0) AS flagged, "
     /* silent: crossed silent_days without contact during the period (the long dormant are
      * no longer a warning, and would crowd out those still to be saved) */
     "  COALESCE(c.last_contact_at >= CAST(? AS DATETIME) - INTERVAL ? DAY AND "
     "  c.last_contact_at < CAST(? AS DATETIME) - INTERVAL ? DAY, 0) AS silent "
     "  FROM (SELECT customer_id AS id FROM tk UNION SELECT customer_id FROM fl "
     "        UNION SELECT c2.id FROM customers c2 WHERE c2.last_contact_at >= CAST(? AS DATETIME) - INTERVAL ? DAY "
     "        AND c2.last_contact_at < CAST(? AS DATETIME) - INTERVAL ? DAY) cand "
     "  JOIN customers c ON c.id = cand.id LEFT JOIN tk ON tk.customer_id = c.id LEFT JOIN fl ON fl.customer_id = c.id "
     "  WHERE 1 = 1" C_FILTER "), "
     "w AS (SELECT k.*, k.earlier >= 2 AND k.recent * 2 < k.earlier AS falling FROM k) "
     "SELECT w.id AS customer_id, w.name, a.name AS owner, w.last_contact_at, "
     "  TIMESTAMPDIFF(DAY, w.last_contact_at, CAST(? AS DATETIME)) AS days_silent, w.recent AS tickets_recent, "
     "  w.earlier AS tickets_before, w.flagged, CONCAT_WS(',', IF(w.silent, 'no_contact', NULL), "
     "  IF(w.falling, 'falling_activity', NULL), IF(w.flagged > 0, 'complaint', NULL)) AS reasons "
     "FROM w LEFT JOIN agents a ON a.id = w.owner_id WHERE w.silent OR w.falling OR w.flagged > 0 "
     "ORDER BY w.silent + w.falling + (w.flagged > 0) DESC, days_silent IS NOT NULL, days_silent DESC, w.id LIMIT 200"},
};

#define SETS(a) a, sizeof(a) / sizeof(a[0])
static const struct report reports[] = {
    {"service", ROLE_ADMIN | ROLE_MANAGER, SETS(service_sets)},
    {"agents", ROLE_ADMIN | ROLE_MANAGER, SETS(agents_sets)},
    {"sales", ROLE_ADMIN | ROLE_MANAGER | ROLE_SALES, SETS(sales_sets)},
    {"marketing", ROLE_ADMIN | ROLE_MANAGER | ROLE_MARKETER, SETS(marketing_sets)},
    {"customers", ROLE_ADMIN | ROLE_MANAGER | ROLE_SALES | ROLE_MARKETER, SETS(customers_sets)},
};

/* ---- parameters ---- */

/* "YYYY-MM-DD" into a day number (days since 1970-01-01), validating the calendar. */
static int parse_day(const char *s, int64_t *day)
{
    int y, m, d, n = 0;
    if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || y < 1970 ||
        y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d || back.tm_mon != m - 1) /* 2026-02-30 */
        return -1;
    *day = (int64_t)t / 86400;
    return 0;
}

static void format_day(int64_t day, char out[11])
{
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int bad(struct api_ctx *c, const char *message)
{
    return api_error(c, 400, "bad_request", message);
}

/* Fills a from the query; answers 400 and returns -1 when a parameter is bad. */
static int read_args(struct api_ctx *c, struct report_args *a, int64_t today)
{
    const char *from = api_arg(c->req, "from"), *to = api_arg(c->req, "to");
    int64_t f = 0, t = today;
    if (to && parse_day(to, &t) < 0)
        return bad(c, "to must be a date YYYY-MM-DD"), -1;
    f = t - 29;
    if (from && parse_day(from, &f) < 0)
        return bad(c, "from must be a date YYYY-MM-DD"), -1;
    if (f > t)
        return bad(c, "from must not be after to"), -1;
    if (t - f >= 366)
        return bad(c, "the period may span at most 366 days (from, to)"), -1;
    format_day(f, a->from_day);
    format_day(t, a->to_day);
    char endday[11];
    format_day(t + 1, endday);
    snprintf(a->from, sizeof(a->from), "%s 00:00:00", a->from_day);
    snprintf(a->end, sizeof(a->end), "%s 00:00:00", endday);
    if (api_arg_id(c, "team", &a->team) < 0)
        return -1;
    int64_t known = 1;
    if (a->team && db_scalar_i64(c->db, "SELECT COUNT(*) FROM teams WHERE id = ?", DBP(P_I(a->team)), 0, &known) == 0 &&
        !known)
        return bad(c, "team: no such team"), -1;
    const char *ch = api_arg(c->req, "channel");
    static const char *const channels[] = {"chat", "email", "sms", "phone", "web", NULL};
    a->channel[0] = '\0';
    if (ch && ch[0]) {
        size_t k = 0;
        while (channels[k] && strcmp(channels[k], ch) != 0)
            k++;
        if (!channels[k])
            return bad(c, "channel must be one of chat, email, sms, phone, web"), -1;
        text_copy(a->channel, sizeof(a->channel), ch);
    }
    const char *sd = api_arg(c->req, "silent_days");
    a->silent_days = 60;
    if (sd && (text_parse_i64(sd, &a->silent_days) < 0 || a->silent_days < 1 || a->silent_days > 3650))
        return bad(c, "silent_days must be 1..3650"), -1;
    a->me = &c->me;
    return 0;
}

/* ---- running a dataset ---- */

#define MAX_BINDS 48

static int run_set(struct api_ctx *c, const struct dataset *ds, const struct report_args *a, struct db_result *r)
{
    struct db_param p[MAX_BINDS];
    size_t n = strlen(ds->binds);
    if (n > MAX_BINDS)
        return DB_EOTHER;
    for (size_t k = 0; k < n; k++) {
        switch (ds->binds[k]) {
        case 'f': p[k] = P_S(a->from); break;
        case 'e': p[k] = P_S(a->end); break;
        case 't': p[k] = P_I(a->team); break;
        case 'c': p[k] = P_S(a->channel); break;
        case 'r': p[k] = P_S(a->me->role); break;
        case 'm': p[k] = P_I(a->me->team_id); break;
        case 'i': p[k] = P_I(a->me->id); break;
        case 's': p[k] = P_I(a->silent_days); break;
        case 'a': p[k] = P_I(campaign_attribution_days()); break;
        default: return DB_EOTHER;
        }
    }
    return db_exec(c->db, ds->sql, p, n, r);
}

static json_t *columns_of(const struct db_result *r)
{
    json_t *cols = json_array();
    for (size_t k = 0; k < r->ncols; k++)
        json_array_append_new(cols, json_string(r->names[k]));
    return cols;
}

/* One dataset as CSV: the header, then each row's JSON values (as the JSON answer has
 * them: timestamps in ISO form, numbers as numbers). */
static int answer_csv(struct api_ctx *c, const struct report *rep, const struct dataset *ds,
                      const struct report_args *a, const struct db_result *r)
{
    struct buf *b = &c->req->resp;
    buf_reset(b);
    int bad_write = 0;
    for (size_t k = 0; k < r->ncols; k++)
        bad_write |= csv_put(b, r->names[k], strlen(r->names[k]), k == 0);
    bad_write |= csv_end(b);
    for (size_t i = 0; i < r->nrows; i++) {
        json_t *row = db_row_json(r, i);
        for (size_t k = 0; k < r->ncols; k++) {
            json_t *v = json_object_get(row, r->names[k]);
            char num[64] = "";
            const char *s = num;
            if (json_is_string(v))
                s = json_string_value(v);
            else if (json_is_integer(v))
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v))
                snprintf(num, sizeof(num), "%.15g", json_real_value(v));
            /* numbers are not text: a negative figure keeps its sign unguarded */
            if (json_is_number(v))
                bad_write |= buf_printf(b, "%s%s", k == 0 ? "" : ",", num) < 0;
            else
                bad_write |= csv_put(b, s, strlen(s), k == 0);
        }
        json_decref(row);
        bad_write |= csv_end(b);
    }
    if (bad_write)
        return DB_EOTHER;
    c->req->status = 200;
    c->req->resp_type = "text/csv; charset=utf-8";
    snprintf(c->req->disposition, sizeof(c->req->disposition), "attachment; filename=\"%s-%s-%s-%s.csv\"",
             rep->name, ds->name, a->from_day, a->to_day);
    return DB_OK;
}

static const struct report *report_named(const char *name)
{
    for (size_t k = 0; k < sizeof(reports) / sizeof(reports[0]); k++)
        if (strcmp(reports[k].name, name) == 0)
            return &reports[k];
    return NULL;
}

static const struct dataset *dataset_named(const struct report *rep, const char *name)
{
    for (size_t k = 0; k < rep->nsets; k++)
        if (strcmp(rep->sets[k].name, name) == 0)
            return &rep->sets[k];
    return NULL;
}

int reports_get(struct api_ctx *c)
{
    const struct report *rep = report_named(c->req->params.str[0]);
    if (!rep)
        return api_not_found(c);
    if (!(rep->roles & c->me.role_bit))
        return api_error(c, 403, "forbidden", "your role may not read this report");
    const char *format = api_arg(c->req, "format"), *dsname = api_arg(c->req, "dataset");
    int csv = format && strcmp(format, "csv") == 0;
    if (format && !csv && strcmp(format, "json") != 0)
        return bad(c, "format must be json or csv");
    const struct dataset *only = NULL;
    if (dsname && !(only = dataset_named(rep, dsname)))
        return bad(c, "dataset: no such dataset in this report");
    if (csv && !only)
        only = &rep->sets[0];
    int64_t today = 0;
    int rc = db_scalar_i64(c->db, "SELECT TO_DAYS(CURDATE()) - TO_DAYS('1970-01-01')", DBP0, 0, &today);
    struct report_args a;
    if (rc || read_args(c, &a, today) < 0)
        return rc;
    json_t *sets = json_object();
    for (size_t k = 0; k < rep->nsets && !rc; k++) {
        const struct dataset *ds = &rep->sets[k];
        if (only && ds != only)
            continue;
        struct db_result r;
        if ((rc = run_set(c, ds, &a, &r)))
            break;
        if (csv) {
            rc = answer_csv(c, rep, ds, &a, &r);
            db_result_free(&r);
            json_decref(sets);
            return rc;
        }
        json_object_set_new(sets, ds->name, json_pack("{s:o, s:o}", "columns", columns_of(&r), "rows", db_rows_json(&r)));
        db_result_free(&r);
    }
    if (rc) {
        json_decref(sets);
        return rc;
    }
    return api_json(c, 200, json_pack("{s:s, s:s, s:s, s:{s:o, s:o}, s:o}", "report", rep->name, "from", a.from_day,
                                      "to", a.to_day, "filters", "team", a.team ? json_integer(a.team) : json_null(),
                                      "channel", a.channel[0] ? json_string(a.channel) : json_null(), "datasets", sets));
}

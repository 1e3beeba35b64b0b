-- 017_fields.sql — field-level permissions and page layouts (issue 12,
-- docs/field-permissions.md, docs/layouts.md). Permissions: per role and field of a customer
-- or a deal, hidden or read-only; a field without a row is editable. Admins are never
-- restricted, so there is no admin row.
CREATE TABLE field_permissions (
  role        ENUM('manager','agent','sales','marketer') NOT NULL,
  object      VARCHAR(48) NOT NULL,
  field       VARCHAR(80) NOT NULL,
  access      ENUM('hidden','read') NOT NULL,
  updated_by  BIGINT UNSIGNED NULL,
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (role, object, field)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Layouts (issue 12): how the console orders and groups the fields of a customer, deal or
-- custom-object page ('customer', 'deal', 'obj.TYPE'); no row = the default order.
CREATE TABLE layouts (
  object      VARCHAR(48) NOT NULL PRIMARY KEY,
  groups_json LONGTEXT NOT NULL CHECK (JSON_VALID(groups_json)),
  updated_by  BIGINT UNSIGNED NULL,
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

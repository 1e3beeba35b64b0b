-- 016_objects.sql — custom objects (issue 12, contract docs/objects.md): record types an
-- administrator defines at run time, without DDL. A record is one object_records row (its
-- values as JSON, for reading) plus one typed object_values row per value (per option of
-- a multiselect), indexed by field, which filters and segment conditions read.

CREATE TABLE object_types (
  id             BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  type_key       VARCHAR(40) NOT NULL,
  label          VARCHAR(200) NOT NULL,
  label_plural   VARCHAR(200) NULL,
  relate_deal    TINYINT(1) NOT NULL DEFAULT 0,
  relate_ticket  TINYINT(1) NOT NULL DEFAULT 0,
  title_field    VARCHAR(64) NULL,
  created_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_object_types_key (type_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE object_fields (
  id             BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  type_id        BIGINT UNSIGNED NOT NULL,
  field_key      VARCHAR(64) NOT NULL,
  label          VARCHAR(200) NOT NULL,
  type           ENUM('text','number','date','select','multiselect') NOT NULL,
  options        LONGTEXT NULL CHECK (options IS NULL OR JSON_VALID(options)),
  required       TINYINT(1) NOT NULL DEFAULT 0,
  position       INT NOT NULL DEFAULT 0,
  UNIQUE KEY uq_object_fields (type_id, field_key),
  CONSTRAINT fk_object_fields_type FOREIGN KEY (type_id) REFERENCES object_types(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

CREATE TABLE object_records (
  id             BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  type_id        BIGINT UNSIGNED NOT NULL,
  customer_id    BIGINT UNSIGNED NOT NULL,
  deal_id        BIGINT UNSIGNED NULL,
  ticket_id      BIGINT UNSIGNED NULL,
  title          VARCHAR(255) NULL,
  data           LONGTEXT NOT NULL CHECK (JSON_VALID(data)),
  search_text    VARCHAR(2000) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, -- lower-cased: a byte LIKE
  created_by     BIGINT UNSIGNED NULL,
  created_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_object_records_type (type_id, id),
  KEY ix_object_records_customer (customer_id, type_id, id),
  KEY ix_object_records_deal (deal_id),
  KEY ix_object_records_ticket (ticket_id),
  CONSTRAINT fk_object_records_type FOREIGN KEY (type_id) REFERENCES object_types(id),
  CONSTRAINT fk_object_records_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE,
  CONSTRAINT fk_object_records_deal FOREIGN KEY (deal_id) REFERENCES deals(id) ON DELETE SET NULL,
  CONSTRAINT fk_object_records_ticket FOREIGN KEY (ticket_id) REFERENCES tickets(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- A text value is at most 255 characters, so v_text holds it whole (filters, sorting);
-- search_text above holds every text and option of the record for ?q= (one scan of the
-- type's records). customer_id is repeated here so a segment condition is one probe.
CREATE TABLE object_values (
  record_id      BIGINT UNSIGNED NOT NULL,
  field_id       BIGINT UNSIGNED NOT NULL,
  seq            SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  type_id        BIGINT UNSIGNED NOT NULL,
  customer_id    BIGINT UNSIGNED NOT NULL,
  v_text         VARCHAR(255) NULL,
  v_num          DECIMAL(30,6) NULL,
  v_date         DATE NULL,
  PRIMARY KEY (record_id, field_id, seq),
  KEY ix_object_values_text (field_id, v_text, record_id),
  KEY ix_object_values_num (field_id, v_num, record_id),
  KEY ix_object_values_date (field_id, v_date, record_id),
  KEY ix_object_values_customer (customer_id, field_id),
  KEY ix_object_values_type (type_id, record_id),
  CONSTRAINT fk_object_values_record FOREIGN KEY (record_id) REFERENCES object_records(id) ON DELETE CASCADE,
  CONSTRAINT fk_object_values_field FOREIGN KEY (field_id) REFERENCES object_fields(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- 012_kb: knowledge base articles, their versions, search synonyms and feedback (issue 10).
--
-- Search (gateway/kb.c, DESIGN.md section 8): InnoDB FULLTEXT does not segment Chinese,
-- so search_text holds the article's tokens as gateway/lib/search_text.c makes them —
-- lower-cased words (light English stemming), digit runs, and the character bigrams of
-- every CJK run — title three times and tags twice (the title boost is term frequency),
-- and queries are tokenised the same way. It needs, in the server's my.cnf before this
-- index is built (scripts/dev-services writes them; both are read-only at run time):
--   innodb_ft_min_token_size = 2   (a CJK bigram is two characters; the default 3 drops it)
--   ft_min_word_len = 2            (the same for MyISAM, harmless)
-- A server started with a larger minimum indexes no bigram: kb search then finds
-- English only; the gateway logs an error at start when @@innodb_ft_min_token_size > 2.

CREATE TABLE kb_articles (
  id            BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  title         VARCHAR(300) NOT NULL,
  body          MEDIUMTEXT NOT NULL,             -- Markdown, rendered to safe HTML on read
  category      VARCHAR(100) NULL,
  tags          JSON NOT NULL DEFAULT (JSON_ARRAY()),
  locale        ENUM('zh','en') NOT NULL DEFAULT 'zh',
  published     TINYINT(1) NOT NULL DEFAULT 0,
  version       INT UNSIGNED NOT NULL DEFAULT 1,
  views         BIGINT UNSIGNED NOT NULL DEFAULT 0,
  helpful       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  not_helpful   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  used          BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- inserted into agents' replies
  search_text   MEDIUMTEXT NOT NULL,
  gen           BIGINT UNSIGNED NOT NULL DEFAULT 0,  -- kb_state.generation of its last edit
  created_by    BIGINT UNSIGNED NULL,
  updated_by    BIGINT UNSIGNED NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY ix_kb_published (published, locale),
  KEY ix_kb_gen (gen),
  FULLTEXT KEY ft_kb_search (search_text)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- The search index in each gateway's memory (gateway/kb_index.c) follows the edits by
-- generation: every article write takes the next kb_state.generation (the row lock puts
-- generations in commit order) into kb_articles.gen, a delete into kb_deleted; a process
-- reads what is newer than the generation it has.
CREATE TABLE kb_state (
  id          TINYINT UNSIGNED PRIMARY KEY,
  generation  BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;
INSERT INTO kb_state (id, generation) VALUES (1, 0);

CREATE TABLE kb_deleted (
  article_id  BIGINT UNSIGNED PRIMARY KEY,
  gen         BIGINT UNSIGNED NOT NULL,
  KEY ix_kb_deleted_gen (gen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Every saved version (the current one too): who changed what, and when.
CREATE TABLE kb_article_versions (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  article_id  BIGINT UNSIGNED NOT NULL,
  version     INT UNSIGNED NOT NULL,
  title       VARCHAR(300) NOT NULL,
  body        MEDIUMTEXT NOT NULL,
  category    VARCHAR(100) NULL,
  tags        JSON NOT NULL,
  locale      ENUM('zh','en') NOT NULL,
  published   TINYINT(1) NOT NULL,
  edited_by   BIGINT UNSIGNED NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_kb_version (article_id, version),
  CONSTRAINT fk_kb_versions_article FOREIGN KEY (article_id) REFERENCES kb_articles(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Synonym groups for search (退款, 退钱, 返款): a query term found in a group also
-- searches for the group's other terms. terms: a JSON array of strings.
CREATE TABLE kb_synonyms (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  terms       JSON NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

-- Helpful / not helpful, once per voter (a signed-in agent, or a visitor's cookie id):
-- a second vote changes the first.
CREATE TABLE kb_feedback (
  id          BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  article_id  BIGINT UNSIGNED NOT NULL,
  voter       VARCHAR(64) NOT NULL,
  helpful     TINYINT(1) NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_kb_feedback (article_id, voter),
  CONSTRAINT fk_kb_feedback_article FOREIGN KEY (article_id) REFERENCES kb_articles(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_as_ci;

INSERT INTO kb_synonyms (terms) VALUES
  (JSON_ARRAY('退款', '退钱', '返款')),
  (JSON_ARRAY('发货', '送货', '出货')),
  (JSON_ARRAY('快递', '物流', '包裹')),
  (JSON_ARRAY('refund', 'money back', 'reimbursement'));

-- gatehouse schema, version 1: relationships with MVCC revision columns, the
-- transaction log that orders revisions, schema history and store metadata.

-- One row. Writers lock it (SELECT ... FOR UPDATE) to take the next revision,
-- so revisions are assigned and committed in the same order and a reader that
-- has seen revision N has seen every revision below it.
CREATE TABLE gatehouse_meta (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	store_id text NOT NULL,
	head_revision bigint NOT NULL,
	head_timestamp timestamptz NOT NULL,
	-- The oldest revision still readable; GC raises it.
	min_revision bigint NOT NULL
);

INSERT INTO gatehouse_meta (store_id, head_revision, head_timestamp, min_revision)
VALUES (gen_random_uuid()::text, 0, TIMESTAMPTZ '1970-01-01 00:00:00+00', 0);

-- One row per committed write transaction.
CREATE TABLE gatehouse_transactions (
	revision bigint PRIMARY KEY,
	committed_at timestamptz NOT NULL
);

-- Every schema text ever written; GC keeps it.
CREATE TABLE gatehouse_schemas (
	revision bigint PRIMARY KEY,
	committed_at timestamptz NOT NULL,
	text text NOT NULL
);

-- A relationship version is visible at revisions [created_revision,
-- deleted_revision); live versions have deleted_revision = max int64. Keys use
-- the C collation so that ORDER BY is bytewise, as the store contract orders keys.
CREATE TABLE gatehouse_relationships (
	resource_type text COLLATE "C" NOT NULL,
	resource_id text COLLATE "C" NOT NULL,
	relation text COLLATE "C" NOT NULL,
	subject_type text COLLATE "C" NOT NULL,
	subject_id text COLLATE "C" NOT NULL,
	subject_relation text COLLATE "C" NOT NULL,
	caveat_name text,
	-- JSON text, returned exactly as written.
	caveat_context text,
	expires_at timestamptz,
	created_revision bigint NOT NULL,
	deleted_revision bigint NOT NULL DEFAULT 9223372036854775807,
	PRIMARY KEY (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_revision)
);

-- At most one live version per key; also the index of loads and filtered reads.
CREATE UNIQUE INDEX gatehouse_relationships_live
	ON gatehouse_relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation)
	WHERE deleted_revision = 9223372036854775807;

-- Reads filtered by subject only.
CREATE INDEX gatehouse_relationships_subject
	ON gatehouse_relationships (subject_type, subject_id, subject_relation);

-- The change stream reads versions created or deleted in a revision range.
CREATE INDEX gatehouse_relationships_created ON gatehouse_relationships (created_revision);
CREATE INDEX gatehouse_relationships_deleted
	ON gatehouse_relationships (deleted_revision)
	WHERE deleted_revision <> 9223372036854775807;

-- GC of expired relationships.
CREATE INDEX gatehouse_relationships_expires
	ON gatehouse_relationships (expires_at)
	WHERE expires_at IS NOT NULL;

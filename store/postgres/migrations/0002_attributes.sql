-- gatehouse schema, version 2: object attributes, versioned like relationships.

-- A version of an object's attributes (compact JSON text) is visible at
-- revisions [created_revision, deleted_revision); the live version has
-- deleted_revision = max int64. An object without attributes has no live row.
CREATE TABLE gatehouse_attributes (
	object_type text COLLATE "C" NOT NULL,
	object_id text COLLATE "C" NOT NULL,
	attributes text NOT NULL,
	created_revision bigint NOT NULL,
	deleted_revision bigint NOT NULL DEFAULT 9223372036854775807,
	PRIMARY KEY (object_type, object_id, created_revision)
);

-- At most one live version per object; also the index of loads and scans.
CREATE UNIQUE INDEX gatehouse_attributes_live
	ON gatehouse_attributes (object_type, object_id)
	WHERE deleted_revision = 9223372036854775807;

-- The change stream reads versions created or deleted in a revision range.
CREATE INDEX gatehouse_attributes_created ON gatehouse_attributes (created_revision);
CREATE INDEX gatehouse_attributes_deleted
	ON gatehouse_attributes (deleted_revision)
	WHERE deleted_revision <> 9223372036854775807;

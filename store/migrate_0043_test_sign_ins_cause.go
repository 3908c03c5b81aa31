package store

// Migration 43: a failed test sign-in keeps its private cause apart from its public message
// (models.TestSignIn.Cause), so that a read-only client reads the message alone, as it reads
// a sign-in event's reason without its cause. Before, error held "public (cause)" together,
// and which part is which cannot be told apart safely (either may hold parentheses). Such an
// error moves whole to cause, error left empty: administrators read it as they did, and
// read-only clients read that the test failed, not why. An error that does not end in ")"
// had no cause (failTest appended a cause in parentheses whenever it had one; the other
// failures, an expired or abandoned test, a deleted connection, are public messages alone)
// and stays public. provision.testShown reads a row that a replica not yet upgraded writes
// so during a rolling upgrade by the same rule.
func init() {
	register(migration{version: 43, name: "test_sign_ins_cause", sql: `
ALTER TABLE test_sign_ins ADD COLUMN cause text NOT NULL DEFAULT '';
UPDATE test_sign_ins SET cause = error, error = '' WHERE error LIKE '%)';
`})
}

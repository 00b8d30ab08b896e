package postgres

// DeniedStatementForTest is the reserved name of the prepared statement
// that a denied Execute's stand-in Bind refers to.
const DeniedStatementForTest = deniedStatement

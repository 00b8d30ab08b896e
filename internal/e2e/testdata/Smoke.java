// Smoke runs JDBC through a gatehouse gateway.
//
// Usage: java -cp <dir>:postgresql.jar Smoke <jdbc url> <user> <password>
// Prints OK and exits 0 when every check passes; prints what failed and
// exits 1 otherwise.
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class Smoke {
    static void check(boolean ok, String what) {
        if (!ok) {
            System.out.println("FAIL: " + what);
            System.exit(1);
        }
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            try (Statement st = conn.createStatement()) {
                st.execute("CREATE TABLE j_t (id int PRIMARY KEY, v text)");
            }

            // Re-executed many times: after prepareThreshold (5) executions
            // the driver switches to a named server-side statement.
            try (PreparedStatement ins = conn.prepareStatement("INSERT INTO j_t VALUES (?, ?)")) {
                for (int i = 1; i <= 20; i++) {
                    ins.setInt(1, i);
                    ins.setString(2, "row " + i);
                    check(ins.executeUpdate() == 1, "insert " + i);
                }
                check(ins.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(), "server-side prepare not in use after 20 executions");
            }
            try (PreparedStatement sel = conn.prepareStatement("SELECT v FROM j_t WHERE id = ?")) {
                for (int i = 1; i <= 20; i++) {
                    sel.setInt(1, i);
                    try (ResultSet rs = sel.executeQuery()) {
                        check(rs.next() && rs.getString(1).equals("row " + i), "select " + i);
                        check(!rs.next(), "select " + i + " returned more than one row");
                    }
                }
            }

            // Batch insert.
            try (PreparedStatement ins = conn.prepareStatement("INSERT INTO j_t VALUES (?, ?)")) {
                for (int i = 100; i < 200; i++) {
                    ins.setInt(1, i);
                    ins.setString(2, "batch " + i);
                    ins.addBatch();
                }
                int[] counts = ins.executeBatch();
                check(counts.length == 100, "batch counts length " + counts.length);
                for (int c : counts) {
                    check(c == 1 || c == Statement.SUCCESS_NO_INFO, "batch count " + c);
                }
            }

            // A batch with a failing statement: the driver reports it and
            // the connection stays usable.
            try (PreparedStatement ins = conn.prepareStatement("INSERT INTO j_t VALUES (?, ?)")) {
                int[] ids = {300, 301, 1, 302};
                for (int id : ids) {
                    ins.setInt(1, id);
                    ins.setString(2, "bad batch");
                    ins.addBatch();
                }
                try {
                    ins.executeBatch();
                    check(false, "a batch with a duplicate key did not fail");
                } catch (BatchUpdateException e) {
                    SQLException next = e.getNextException();
                    String state = next != null ? next.getSQLState() : e.getSQLState();
                    check("23505".equals(state), "batch failure SQLState " + state);
                }
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM j_t")) {
                // Autocommit: the batch is one implicit transaction, so
                // none of its rows stay.
                check(rs.next() && rs.getLong(1) == 120, "row count after the failed batch");
            }

            // A transaction with an error is aborted until rollback.
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement()) {
                try {
                    st.execute("SELECT * FROM no_such_table_j");
                    check(false, "missing table did not fail");
                } catch (SQLException e) {
                    check("42P01".equals(e.getSQLState()), "missing table SQLState " + e.getSQLState());
                }
                try {
                    st.execute("SELECT 1");
                    check(false, "statement in an aborted transaction did not fail");
                } catch (SQLException e) {
                    check("25P02".equals(e.getSQLState()), "aborted transaction SQLState " + e.getSQLState());
                }
                conn.rollback();
                try (ResultSet rs = st.executeQuery("SELECT 42")) {
                    check(rs.next() && rs.getInt(1) == 42, "select after rollback");
                }
                conn.commit();
            }
        }
        System.out.println("OK");
    }
}

// DenyBatch runs a JDBC batch with one statement that gatehouse denies
// (its text names forbidden_table), then checks the connection is usable,
// in autocommit and in a transaction.
// Usage: javac -d DIR DenyBatch.java; java -cp DIR:postgresql.jar DenyBatch URL USER PASSWORD
import java.sql.*;

public class DenyBatch {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            try (Statement s = c.createStatement()) {
                s.addBatch("INSERT INTO allowed_table VALUES (1)");
                s.addBatch("INSERT INTO forbidden_table VALUES (2)");
                s.addBatch("INSERT INTO allowed_table VALUES (3)");
                s.executeBatch();
                System.out.println("batch ran");
            } catch (BatchUpdateException e) {
                SQLException next = e.getNextException();
                System.out.println("batch " + e.getSQLState() + " " + (next == null ? "" : next.getMessage()));
            }
            System.out.println("rows " + count(c));
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO allowed_table VALUES (4)");
                try {
                    s.executeQuery("SELECT * FROM forbidden_table");
                    System.out.println("select ran");
                } catch (SQLException e) {
                    System.out.println("select " + e.getSQLState());
                }
                try {
                    s.executeUpdate("INSERT INTO allowed_table VALUES (5)");
                    System.out.println("insert ran");
                } catch (SQLException e) {
                    System.out.println("insert " + e.getSQLState());
                }
            }
            c.rollback();
            c.setAutoCommit(true);
            System.out.println("rows " + count(c));
        }
    }

    static int count(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM allowed_table")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}

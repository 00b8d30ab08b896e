// Client exercises the PostgreSQL JDBC driver through gatehouse: server-side
// prepared statements (after prepareThreshold uses), batches, and a cursor
// read with setFetchSize (a named portal executed with a row limit).
// Usage: java -cp postgresql.jar Client.java URL USER PASSWORD
import java.sql.*;

public class Client {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE items (id int PRIMARY KEY, name text)");
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO items VALUES (?, ?)")) {
                for (int i = 1; i <= 10; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "item" + i);
                    ps.executeUpdate();
                }
                for (int i = 11; i <= 100; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "item" + i);
                    ps.addBatch();
                }
                int n = 0;
                for (int r : ps.executeBatch()) n += r;
                System.out.println("batch " + n);
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO items VALUES (?, ?)")) {
                ps.setInt(1, 1);
                ps.setString(2, "dup");
                ps.executeUpdate();
                System.out.println("no error");
            } catch (SQLException e) {
                System.out.println("error " + e.getSQLState());
            }
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT id, name FROM items WHERE id > ? ORDER BY id")) {
                ps.setFetchSize(30);
                ps.setInt(1, 0);
                int rows = 0;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) rows++;
                }
                System.out.println("fetched " + rows);
            }
            c.commit();
        }
    }
}

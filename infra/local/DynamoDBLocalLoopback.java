// Starts DynamoDB Local bound to one address (127.0.0.1 by default).
//
// Why this exists: DynamoDBLocal.jar has no host/bind option (its options are
// -port -inMemory -dbPath -sharedDb -cors -delayTransientStatuses
// -disableTelemetry -optimizeDbBeforeStartup -version -help); its
// DynamoDBProxyServer builds a Jetty `new Server(port)`, which listens on every
// interface. This launcher builds the server exactly as the jar's own main()
// does (ServerRunner.createServerFromCommandLineArgs), then sets the host of
// the Jetty connector(s) before starting it.
//
// Run with Java's single-file source launcher (no javac/build step needed; the
// jdk.compiler module ships in Debian's openjdk-17-jre-headless):
//   java -Djava.library.path=DIR/DynamoDBLocal_lib -cp DIR/DynamoDBLocal.jar \
//        infra/local/DynamoDBLocalLoopback.java -inMemory -port 8000
// The jar's manifest Class-Path pulls in DynamoDBLocal_lib/*.jar.
// Everything is called by reflection so the file compiles against the JDK alone
// and survives package-internal changes in the jar with a clear error.

import java.lang.reflect.Field;
import java.lang.reflect.Method;

public class DynamoDBLocalLoopback {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("ddblocal.host", "127.0.0.1");

        Class<?> runner = Class.forName("software.amazon.dynamodb.services.local.main.ServerRunner");
        Method create = runner.getMethod("createServerFromCommandLineArgs", String[].class);
        Object proxy = create.invoke(null, (Object) args);

        Field serverField = proxy.getClass().getDeclaredField("server");
        serverField.setAccessible(true);
        Object jetty = serverField.get(proxy);

        Object[] connectors = (Object[]) jetty.getClass().getMethod("getConnectors").invoke(jetty);
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no Jetty connector to bind");
        }
        for (Object connector : connectors) {
            connector.getClass().getMethod("setHost", String.class).invoke(connector, host);
        }

        proxy.getClass().getMethod("start").invoke(proxy);
        System.out.println("DynamoDB Local listening on " + host + " (loopback launcher)");
        proxy.getClass().getMethod("join").invoke(proxy);
    }
}

// The JVM side of the DIGEST-MD5 interop test (test/interop/sasl-digest-md5.test.ts): runs the
// JDK's own SASL mechanism, or Spark's own SparkSaslClient / SparkSaslServer when Spark's jars are
// on the class path, with the parameters Spark's shuffle client and service use, and speaks a line
// protocol on stdin/stdout so a Node test can put sparkplane on the other end.
//
//   java SparkSaslClient.java [--mode] <secret>
//   java SparkSaslClient.java --password|--spark-password <secret>...
//
// Modes:
//   --client (default)  JDK SaslClient as Spark's SparkSaslClient builds it (qop=auth)
//   --server            JDK SaslServer as Spark's SparkSaslServer builds it (qop=auth)
//   --spark-client      org.apache.spark.network.sasl.SparkSaslClient (needs Spark's jars)
//   --spark-server      org.apache.spark.network.sasl.SparkSaslServer (needs Spark's jars)
//   --password          print the password java.util.Base64's MIME encoder makes of each secret
//   --spark-password    print the password SparkSaslServer.encodePassword makes of each secret
//
// Every SASL token is one line of lower-case hex (an empty token is an empty line). A client
// prints its first token, then reads a challenge and prints its answer until it is complete. A
// server reads a token and prints its answer until it is complete. The last line is either
// "OK qop=<qop> authzid=<id>" or "ERROR <exception class>: <message>"; the exit code is 0 or 1.
// Passwords are printed as hex of their UTF-8 bytes, since they contain a line break.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.CallbackHandler;
import javax.security.auth.callback.NameCallback;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.sasl.AuthorizeCallback;
import javax.security.sasl.RealmCallback;
import javax.security.sasl.Sasl;
import javax.security.sasl.SaslClient;
import javax.security.sasl.SaslServer;

public final class SparkSaslClient {
  // Spark's constants: the user every app authenticates as, and the realm / server name.
  private static final String SASL_USER = "sparkSaslUser";
  private static final String REALM = "default";
  private static final HexFormat HEX = HexFormat.of();

  /** One side of the exchange, whether the JDK's or Spark's. */
  private interface Side {
    byte[] step(byte[] token) throws Exception;

    boolean isComplete();

    Object negotiated(String property);

    String authorizationId();
  }

  public static void main(String[] args) throws Exception {
    boolean hasMode = args.length > 0 && args[0].startsWith("--");
    String mode = hasMode ? args[0] : "--client";
    String[] secrets = Arrays.copyOfRange(args, hasMode ? 1 : 0, args.length);
    boolean passwords = mode.equals("--password") || mode.equals("--spark-password");
    if (passwords ? secrets.length == 0 : secrets.length != 1) {
      System.err.println("usage: java SparkSaslClient.java [--client|--server|--spark-client|"
          + "--spark-server] <secret>");
      System.err.println(
          "       java SparkSaslClient.java --password|--spark-password <secret>...");
      System.exit(2);
    }
    String secret = secrets[0];
    try {
      switch (mode) {
        case "--client" -> runClient(jdkClient(secret));
        case "--server" -> runServer(jdkServer(secret));
        case "--spark-client" -> runClient(sparkSide("SparkSaslClient", secret));
        case "--spark-server" -> runServer(sparkSide("SparkSaslServer", secret));
        case "--password" -> {
          for (String each : secrets) {
            print(HEX.formatHex(password(each).getBytes(StandardCharsets.UTF_8)));
          }
        }
        case "--spark-password" -> {
          for (String each : secrets) print(HEX.formatHex(sparkPassword(each)));
        }
        default -> {
          System.err.println("unknown mode " + mode);
          System.exit(2);
        }
      }
    } catch (Throwable error) {
      Throwable cause = error instanceof InvocationTargetException ? error.getCause() : error;
      print("ERROR " + describe(cause));
      System.exit(1);
    }
  }

  private static void runClient(Side client) throws Exception {
    // DIGEST-MD5 has no initial response: Spark sends an empty first token.
    print(HEX.formatHex(client.step(null)));
    while (!client.isComplete()) {
      byte[] answer = client.step(readToken());
      // Once the server's rspauth checks out the client is complete and has nothing to send.
      if (!client.isComplete() || answer != null) {
        print(HEX.formatHex(answer == null ? new byte[0] : answer));
      }
    }
    printOk(client);
  }

  private static void runServer(Side server) throws Exception {
    while (!server.isComplete()) print(HEX.formatHex(server.step(readToken())));
    printOk(server);
  }

  private static void printOk(Side side) {
    print("OK qop=" + side.negotiated(Sasl.QOP) + " authzid=" + side.authorizationId());
  }

  private static Side jdkClient(String secret) throws Exception {
    Map<String, String> props = new HashMap<>();
    props.put(Sasl.QOP, "auth");
    props.put(Sasl.SERVER_AUTH, "true");
    // authzid null, protocol null, server name "default": exactly Spark's SparkSaslClient.
    SaslClient client = Sasl.createSaslClient(
        new String[] {"DIGEST-MD5"}, null, null, REALM, props, handler(secret, false));
    if (client == null) throw new IllegalStateException("the JDK has no DIGEST-MD5 SASL client");
    return new Side() {
      public byte[] step(byte[] token) throws Exception {
        if (token == null) {
          return client.hasInitialResponse() ? client.evaluateChallenge(new byte[0]) : new byte[0];
        }
        return client.evaluateChallenge(token);
      }

      public boolean isComplete() {
        return client.isComplete();
      }

      public Object negotiated(String property) {
        return client.getNegotiatedProperty(property);
      }

      public String authorizationId() {
        return "-";
      }
    };
  }

  private static Side jdkServer(String secret) throws Exception {
    Map<String, String> props = new HashMap<>();
    props.put(Sasl.QOP, "auth");
    // Protocol null, as Spark passes it: the JDK then expects digest-uri "null/default".
    SaslServer server =
        Sasl.createSaslServer("DIGEST-MD5", null, REALM, props, handler(secret, true));
    if (server == null) throw new IllegalStateException("the JDK has no DIGEST-MD5 SASL server");
    return new Side() {
      public byte[] step(byte[] token) throws Exception {
        return server.evaluateResponse(token);
      }

      public boolean isComplete() {
        return server.isComplete();
      }

      public Object negotiated(String property) {
        return server.getNegotiatedProperty(property);
      }

      public String authorizationId() {
        return server.getAuthorizationID();
      }
    };
  }

  /** The callbacks Spark's SASL client and server answer, with Spark's answers. */
  private static CallbackHandler handler(String secret, boolean serverSide) {
    return callbacks -> {
      for (Callback callback : callbacks) {
        if (callback instanceof NameCallback name) {
          name.setName(user());
        } else if (callback instanceof PasswordCallback password) {
          password.setPassword(password(secret).toCharArray());
        } else if (callback instanceof RealmCallback realm) {
          realm.setText(realm.getDefaultText());
        } else if (serverSide && callback instanceof AuthorizeCallback authorize) {
          boolean same = authorize.getAuthenticationID().equals(authorize.getAuthorizationID());
          authorize.setAuthorized(same);
          if (same) authorize.setAuthorizedID(authorize.getAuthorizationID());
        } else {
          throw new UnsupportedCallbackException(callback, "not a callback Spark answers");
        }
      }
    };
  }

  private static String user() {
    return Base64.getEncoder().encodeToString(SASL_USER.getBytes(StandardCharsets.UTF_8));
  }

  /** Base64 of the UTF-8 secret, a '\n' after every 76 characters, none at the end. */
  private static String password(String secret) {
    byte[] lineBreak = "\n".getBytes(StandardCharsets.US_ASCII);
    byte[] utf8 = secret.getBytes(StandardCharsets.UTF_8);
    return Base64.getMimeEncoder(76, lineBreak).encodeToString(utf8);
  }

  private static Side sparkSide(String className, String secret) throws Exception {
    Class<?> holderType = Class.forName("org.apache.spark.network.sasl.SecretKeyHolder");
    InvocationHandler answers = (proxy, method, methodArgs) -> switch (method.getName()) {
      case "getSaslUser" -> SASL_USER;
      case "getSecretKey" -> secret;
      case "toString" -> "SecretKeyHolder(" + SASL_USER + ")";
      case "hashCode" -> 0;
      case "equals" -> proxy == methodArgs[0];
      default -> throw new UnsupportedOperationException(method.getName());
    };
    Object holder = Proxy.newProxyInstance(
        SparkSaslClient.class.getClassLoader(), new Class<?>[] {holderType}, answers);
    Class<?> type = Class.forName("org.apache.spark.network.sasl." + className);
    // (appId, keys, encrypt / alwaysEncrypt): Spark passes the app id; false keeps qop=auth.
    Object side = type.getConstructor(String.class, holderType, boolean.class)
        .newInstance("app-20260101000000-0000", holder, false);
    Method response = type.getMethod("response", byte[].class);
    Method firstToken = className.equals("SparkSaslClient") ? type.getMethod("firstToken") : null;
    Method isComplete = type.getMethod("isComplete");
    Method negotiated = type.getMethod("getNegotiatedProperty", String.class);
    return new Side() {
      public byte[] step(byte[] token) throws Exception {
        if (token == null) return (byte[]) firstToken.invoke(side);
        return (byte[]) response.invoke(side, (Object) token);
      }

      public boolean isComplete() {
        return (Boolean) invoke(isComplete);
      }

      public Object negotiated(String property) {
        return invoke(negotiated, property);
      }

      public String authorizationId() {
        return "-";
      }

      private Object invoke(Method method, Object... methodArgs) {
        try {
          return method.invoke(side, methodArgs);
        } catch (ReflectiveOperationException error) {
          throw new IllegalStateException(error);
        }
      }
    };
  }

  private static byte[] sparkPassword(String secret) throws Exception {
    Class<?> type = Class.forName("org.apache.spark.network.sasl.SparkSaslServer");
    char[] chars = (char[]) type.getMethod("encodePassword", String.class).invoke(null, secret);
    return new String(chars).getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] readToken() throws Exception {
    String line = STDIN.readLine();
    if (line == null) throw new IllegalStateException("stdin closed before the next token");
    return HEX.parseHex(line.trim());
  }

  private static String describe(Throwable error) {
    String text = error.getClass().getName() + ": " + error.getMessage();
    return text.replace('\n', ' ');
  }

  private static void print(String line) {
    System.out.println(line);
    System.out.flush();
  }

  private static final BufferedReader STDIN =
      new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
}

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Helper of dev/stack: in one JVM, waits until the local broker answers metadata requests with
 * at least one live broker, then creates the given topics if they are missing and checks the ones
 * that exist.
 *
 * <pre>
 * java -cp '.stack/dist/kafka-libs/*:.stack/build/stack-admin' StackAdmin \
 *     BOOTSTRAP TIMEOUT_SECONDS NAME:PARTITIONS:REPLICATION_FACTOR:CLEANUP_POLICY...
 * </pre>
 *
 * Exit codes: 0 all topics present, 1 error, 2 broker not answering before the timeout,
 * 3 some existing topic differs from the requested spec (partitions or cleanup.policy).
 */
public final class StackAdmin {
  private record Spec(String name, int partitions, short replicationFactor, String cleanupPolicy) {
    static Spec parse(String arg) {
      String[] f = arg.split(":");
      if (f.length != 4) {
        throw new IllegalArgumentException("bad topic spec (NAME:PARTITIONS:RF:POLICY): " + arg);
      }
      return new Spec(f[0], Integer.parseInt(f[1]), Short.parseShort(f[2]), f[3]);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: StackAdmin BOOTSTRAP TIMEOUT_SECONDS [NAME:PARTITIONS:RF:POLICY]...");
      System.exit(1);
    }
    String bootstrap = args[0];
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
    List<Spec> specs = new ArrayList<>();
    for (int i = 2; i < args.length; i++) {
      specs.add(Spec.parse(args[i]));
    }

    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "unitrack-dev-stack");
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    try (Admin admin = Admin.create(props)) {
      waitForBroker(admin, bootstrap, deadline);
      if (!specs.isEmpty()) {
        System.exit(ensureTopics(admin, specs, deadline));
      }
    }
  }

  private static void waitForBroker(Admin admin, String bootstrap, long deadline)
      throws InterruptedException {
    Exception last = null;
    while (true) {
      try {
        Collection<Node> nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
        if (!nodes.isEmpty()) {
          return;
        }
      } catch (ExecutionException | TimeoutException e) {
        last = e;
      }
      if (System.nanoTime() > deadline) {
        System.err.println("StackAdmin: no broker answered metadata requests at " + bootstrap
            + (last == null ? "" : ": " + rootMessage(last)));
        System.exit(2);
      }
      Thread.sleep(250);
    }
  }

  private static int ensureTopics(Admin admin, List<Spec> specs, long deadline) throws Exception {
    int created = 0;
    while (true) {
      Set<String> existing = admin.listTopics().names().get(10, TimeUnit.SECONDS);
      List<NewTopic> missing = new ArrayList<>();
      for (Spec s : specs) {
        if (!existing.contains(s.name())) {
          Map<String, String> configs = new HashMap<>();
          configs.put(TopicConfig.CLEANUP_POLICY_CONFIG, s.cleanupPolicy());
          missing.add(new NewTopic(s.name(), s.partitions(), s.replicationFactor()).configs(configs));
        }
      }
      if (missing.isEmpty()) {
        break;
      }
      Exception retriable = null;
      for (Map.Entry<String, ? extends org.apache.kafka.common.KafkaFuture<Void>> e :
          admin.createTopics(missing).values().entrySet()) {
        try {
          e.getValue().get(15, TimeUnit.SECONDS);
          System.out.println("created topic " + e.getKey());
          created++;
        } catch (ExecutionException ex) {
          if (ex.getCause() instanceof TopicExistsException) {
            continue; // created concurrently: fine
          }
          if (ex.getCause() instanceof RetriableException) {
            retriable = ex;
          } else {
            System.err.println("StackAdmin: cannot create topic " + e.getKey() + ": "
                + rootMessage(ex));
            return 1;
          }
        } catch (TimeoutException ex) {
          retriable = ex;
        }
      }
      if (retriable == null) {
        continue; // list again to confirm
      }
      if (System.nanoTime() > deadline) {
        System.err.println("StackAdmin: topic creation kept failing: " + rootMessage(retriable));
        return 1;
      }
      Thread.sleep(500);
    }
    return verify(admin, specs, created);
  }

  /** Checks partition count and cleanup.policy of every requested topic. */
  private static int verify(Admin admin, List<Spec> specs, int created) throws Exception {
    List<String> names = specs.stream().map(Spec::name).toList();
    Map<String, TopicDescription> descriptions =
        admin.describeTopics(names).allTopicNames().get(15, TimeUnit.SECONDS);
    Map<ConfigResource, Spec> resources = new LinkedHashMap<>();
    for (Spec s : specs) {
      resources.put(new ConfigResource(ConfigResource.Type.TOPIC, s.name()), s);
    }
    Map<ConfigResource, Config> configs =
        admin.describeConfigs(resources.keySet()).all().get(15, TimeUnit.SECONDS);
    int mismatches = 0;
    for (Map.Entry<ConfigResource, Spec> e : resources.entrySet()) {
      Spec s = e.getValue();
      int partitions = descriptions.get(s.name()).partitions().size();
      ConfigEntry policy = configs.get(e.getKey()).get(TopicConfig.CLEANUP_POLICY_CONFIG);
      String actualPolicy = policy == null ? "?" : policy.value();
      if (partitions != s.partitions() || !actualPolicy.equals(s.cleanupPolicy())) {
        System.err.printf("WARNING: topic %s has partitions=%d cleanup.policy=%s, wanted"
                + " partitions=%d cleanup.policy=%s (delete it or run `dev/stack down --purge`)%n",
            s.name(), partitions, actualPolicy, s.partitions(), s.cleanupPolicy());
        mismatches++;
      }
    }
    System.out.printf("topics: %d ready (%d created, %d already existed)%n",
        specs.size(), created, specs.size() - created);
    return mismatches == 0 ? 0 : 3;
  }

  private static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c.getClass().getSimpleName() + ": " + c.getMessage();
  }
}

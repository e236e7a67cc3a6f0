// Reads capacity-scheduler.xml files the way a YARN ResourceManager does: for each file a
// ResourceManager with the CapacityScheduler is initialised on it (which builds and validates the
// queue tree, as the RM does at start and on `yarn rmadmin -refreshQueues`), then every queue
// under root is printed as YARN sees it. Prints one JSON object: file -> queues, or file -> error.
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.metrics2.lib.DefaultMetricsSystem;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;
import org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.AbstractLeafQueue;
import org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CSQueue;
import org.apache.hadoop.yarn.server.resourcemanager.scheduler.capacity.CapacityScheduler;

public class YarnQueueCheck {
  public static void main(String[] files) {
    // Several ResourceManagers in one JVM register the same metrics sources, as Hadoop's own
    // mini clusters do.
    DefaultMetricsSystem.setMiniClusterMode(true);
    List<String> results = new ArrayList<>();
    for (String file : files) results.add(quote(file) + ":" + check(file));
    System.out.println("{" + String.join(",", results) + "}");
    // The ResourceManager leaves non-daemon timer threads behind even after stop().
    System.exit(0);
  }

  private static String check(String file) {
    YarnConfiguration conf = new YarnConfiguration();
    conf.set(YarnConfiguration.RM_SCHEDULER, CapacityScheduler.class.getName());
    conf.addResource(new Path(file));
    ResourceManager rm = new ResourceManager();
    try {
      rm.init(conf);
      CapacityScheduler scheduler = (CapacityScheduler) rm.getResourceScheduler();
      List<String> queues = new ArrayList<>();
      for (CSQueue queue : scheduler.getRootQueue().getChildQueues()) {
        String fields = "\"capacity\":" + queue.getCapacity()
            + ",\"maximumCapacity\":" + queue.getMaximumCapacity()
            + ",\"state\":" + quote(String.valueOf(queue.getState()));
        if (queue instanceof AbstractLeafQueue leaf)
          fields += ",\"maximumApplications\":" + leaf.getMaxApplications()
              + ",\"userLimitFactor\":" + leaf.getUserLimitFactor();
        queues.add(quote(queue.getQueuePath()) + ":{" + fields + "}");
      }
      return "{" + String.join(",", queues) + "}";
    } catch (Exception error) {
      Throwable root = error;
      while (root.getCause() != null) root = root.getCause();
      return "{\"error\":" + quote(root.getClass().getSimpleName() + ": " + root.getMessage()) + "}";
    } finally {
      rm.stop();
    }
  }

  private static String quote(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }
}

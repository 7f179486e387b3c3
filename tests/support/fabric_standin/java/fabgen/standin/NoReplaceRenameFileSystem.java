package fabgen.standin;

import java.io.IOException;

import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * The Fabric stand-in's file system behind {@code abfss://}: the local one, except that a rename is
 * refused when its destination exists, checked and done as one step. OneLake's rename is a single
 * request that fails when the destination exists (hadoop-azure's {@code If-None-Match: *}); Hadoop's
 * local rename checks and then moves, so renames racing onto one name could all succeed. Renames in
 * one JVM are serialised here (tests only: a stand-in's renames all run in its notebook's JVM).
 */
public class NoReplaceRenameFileSystem extends RawLocalFileSystem {
  private static final Object RENAMES = new Object();

  @Override
  public boolean rename(Path src, Path dst) throws IOException {
    synchronized (RENAMES) {
      if (pathToFile(dst).isFile()) {
        return false;
      }
      return super.rename(src, dst);
    }
  }
}

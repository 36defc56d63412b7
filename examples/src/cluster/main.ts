// `npm run demo:cluster`: three replicas of a control server, a Redis (its
// own redis-server, or REDIS_URL), agents behind a load balancer and a
// caller, in one process.
import { INSTALL_REDIS } from "./redis.js";
import { runClusterDemo } from "./demo.js";

try {
  await runClusterDemo();
} catch (e) {
  console.error(`cluster demo failed: ${(e as Error).message}`);
  if (!process.env.REDIS_URL && /redis-server is not installed/.test((e as Error).message)) {
    console.error(`It needs Redis: ${INSTALL_REDIS}, or REDIS_URL=redis://host:port`);
  }
  process.exit(1);
}

// Before `npm test`: make sure better-sqlite3 in node_modules is built for this Node. If an
// Electron build (or another Node's) is there, rebuild it from source. No manual steps.
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function loads() {
  try {
    const Database = require('better-sqlite3');
    new Database(':memory:').close();
    return true;
  } catch (e) {
    if (/NODE_MODULE_VERSION|ERR_DLOPEN_FAILED|invalid ELF|Could not locate the bindings/i.test(String(e?.message ?? e) + (e?.code ?? ''))) {
      console.error(`better-sqlite3 does not load in Node ${process.version} (${e.code ?? e.message}); rebuilding it for this Node…`);
      return false;
    }
    throw e;
  }
}

if (!loads()) {
  execSync('npm rebuild better-sqlite3', { stdio: 'inherit' });
  for (const key of Object.keys(require.cache)) delete require.cache[key];
  if (!loads()) {
    console.error('better-sqlite3 still does not load after a rebuild: check that python3, make and g++ are installed');
    process.exit(1);
  }
}

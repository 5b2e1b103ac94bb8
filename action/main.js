// Entry point of the main step (action.yml `runs.main`). Logic lives in src/main.js.
import { run } from './src/main.js';

process.exitCode = await run();

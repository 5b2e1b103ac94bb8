// Entry point of the post step (action.yml `runs.post`). Logic lives in src/post.js.
import { runPost } from './src/post.js';

process.exitCode = await runPost();

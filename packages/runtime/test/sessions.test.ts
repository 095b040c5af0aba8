import { createMemorySessionStore } from '../src/index.js';
import { sessionStoreSuite } from './session-store-suite.js';

sessionStoreSuite('memory', async () => createMemorySessionStore());

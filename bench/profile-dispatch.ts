import { benchDispatch } from './dispatch.js';

await benchDispatch();

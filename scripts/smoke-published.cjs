// The CommonJS entry points of the packed packages load and expose the same API.
const core = require('@impact-in/core');
const names = ['benevity', 'goodera', 'workday'];
for (const name of names) {
  const module = require(`@impact-in/connector-${name}`);
  if (module[name]?.id !== name || typeof module.fromEnv !== 'function')
    throw new Error(`bad CJS exports of ${name}`);
}
const { startProviderServer } = require('@impact-in/testing/server');
if (typeof core.createDispatcher !== 'function' || typeof startProviderServer !== 'function') {
  throw new Error('bad CJS exports of core or testing');
}
console.log('published CJS entry points: ok');

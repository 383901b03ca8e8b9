import { benevity, fromEnv as benevityFromEnv } from '@impact-in/connector-benevity';
import { goodera, fromEnv as gooderaFromEnv } from '@impact-in/connector-goodera';
import { kintell, fromEnv as kintellFromEnv } from '@impact-in/connector-kintell';
import { workday, fromEnv as workdayFromEnv } from '@impact-in/connector-workday';
import type { ConnectorModule } from './registry.js';

/** The connectors the host ships with; third-party ones come in through `IMPACT_IN_PLUGINS`. */
export const BUILTIN_CONNECTORS: ConnectorModule[] = [
  { connector: benevity, fromEnv: benevityFromEnv },
  { connector: goodera, fromEnv: gooderaFromEnv },
  // Imports need no credentials; webhooks stay refused until a webhook secret is configured.
  { connector: kintell, fromEnv: kintellFromEnv, configuredByDefault: true },
  { connector: workday, fromEnv: workdayFromEnv },
];

import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  test('nothing configured gives the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      DATA_DIR: '.data',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_UI_PORT: 8233,
    });
    expect('DATABASE_URL' in config).toBe(false);
    expect('TEMPORAL_ADDRESS' in config).toBe(false);
  });

  test('a bad value fails with one line naming the variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^Invalid configuration: PORT: /);
    expect(() => loadConfig({ TEMPORAL_ADDRESS: 'not an address' })).toThrow(
      'Invalid configuration: TEMPORAL_ADDRESS: must be host:port, e.g. localhost:7233',
    );
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(
      'Invalid configuration: DATABASE_URL: must be a postgres:// or postgresql:// URL',
    );
  });

  test('production refuses the development secrets and needs its own Postgres and Temporal', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      'Invalid configuration: PUBLIC_BASE_URL: must be set in production; DATABASE_URL: must be set in production; TEMPORAL_ADDRESS: must be set in production; JWT_SECRET: must be set in production; MEMBERSHIP_WEBHOOK_SECRET: must be set in production; HASH_SALT: must be set in production',
    );
  });

  test('links people open are http(s) or the app\'s own scheme, never javascript:', () => {
    expect(() => loadConfig({ APP_STORE_URL: 'javascript:alert(1)' })).toThrow('Invalid configuration: APP_STORE_URL: must be an http(s) URL');
    expect(() => loadConfig({ PUBLIC_BASE_URL: 'ftp://join.example.org' })).toThrow('Invalid configuration: PUBLIC_BASE_URL: must be an http(s) URL');
    expect(() => loadConfig({ APP_DEEP_LINK: 'javascript://alert(1)' })).toThrow("Invalid configuration: APP_DEEP_LINK: must be the app's own scheme or http(s)");
    expect(loadConfig({ APP_DEEP_LINK: 'hearingapp://join', APP_STORE_URL: 'https://apps.apple.com/app/id1' })).toMatchObject({ APP_DEEP_LINK: 'hearingapp://join' });
  });

  test('an empty variable counts as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '' });
    expect(config.PORT).toBe(3000);
    expect('DATABASE_URL' in config).toBe(false);
  });
});

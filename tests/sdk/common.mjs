// What the SDK scripts share: reading the environment, and token storage for Node.

export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

/** In-memory token storage: Node has no window.localStorage, the SDK's default. */
export class MemoryStorage {
  constructor() {
    this.token = null;
    this.refreshToken = null;
  }
  getToken() {
    return this.token;
  }
  setToken(token) {
    this.token = token;
  }
  removeToken() {
    this.token = null;
  }
  getRefreshToken() {
    return this.refreshToken;
  }
  setRefreshToken(token) {
    this.refreshToken = token;
  }
  removeRefreshToken() {
    this.refreshToken = null;
  }
}

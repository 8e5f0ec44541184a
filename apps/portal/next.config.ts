import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // nats opens raw TCP sockets and keeps process-wide state: load it from node_modules at run time, never bundle it.
  serverExternalPackages: ['nats'],
  async redirects() {
    // Devices is the only section so far; `/` is not permanent so a future overview page can take it over.
    return [{ source: '/', destination: '/devices', permanent: false }];
  },
};

export default nextConfig;

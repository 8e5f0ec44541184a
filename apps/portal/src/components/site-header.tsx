import Link from 'next/link';
import { NavLink } from '@/components/nav-link';
import { currentIdentity } from '@/server/session';

const ROLE_LABELS = { admin: 'Admin', operator: 'Operator', viewer: 'Viewer' } as const;

export async function SiteHeader() {
  // Asked of the cloud API with the session token: the header shows who the API thinks is signed in.
  const identity = await currentIdentity();
  return (
    <header className="site-header">
      <div className="site-header__inner">
        <Link href="/devices" className="brand" aria-label="Outpost home">
          <svg className="brand__mark" viewBox="0 0 24 24" aria-hidden="true">
            <path d="M12 2 21 7v10l-9 5-9-5V7z" fill="currentColor" opacity="0.25" />
            <path d="M12 6.5 16.5 9v6L12 17.5 7.5 15V9z" fill="currentColor" />
          </svg>
          <span className="brand__name">Outpost</span>
        </Link>
        {identity ? (
          <>
            <nav className="site-nav" aria-label="Main">
              <NavLink href="/devices">Devices</NavLink>
            </nav>
            <div className="site-user" data-testid="signed-in-user">
              <span className="site-user__name">{identity.name}</span>
              <span className="site-user__role" data-role={identity.role}>
                {ROLE_LABELS[identity.role]}
              </span>
              <form method="post" action="/api/auth/logout">
                <button type="submit" className="site-user__logout">
                  Sign out
                </button>
              </form>
            </div>
          </>
        ) : null}
      </div>
    </header>
  );
}

"""EC2 ``DescribeInstances`` for ``{{EC2PrivateDNSName}}``: every part of the lookup in one home.

``describe`` is the signed request as a generator flow and its answer's parser,
``limits`` the token bucket and the TTL cache, ``resolver`` the sync and async
resolvers that batch, rate-limit and cache lookups, ``lookup`` the webhook's
lookup with its own AWS credentials (default chain, or an assumed describe role),
and ``usage`` whether a mapping needs lookups at all (without importing ``lookup``).
The mapping package stays pure: it only calls the ``ec2_dns`` function it is
given, and its public ``EC2Resolver``/``AsyncEC2Resolver``/... are lazy aliases of
the names here. May import ``_core``, ``_runtime``, ``credentials``, ``mapping``,
``errors``, httpx and anyio; the server composes it.

Internal to k8s_aws_auth: its packages import these modules directly.
"""

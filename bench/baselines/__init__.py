"""HTTP baselines the benchmark compares the service against (see README.md beside this file).

`floor` is raw ASGI + asyncpg; `orm` is FastAPI + SQLAlchemy 2 async ORM + pydantic v2. Each has a
module-level ASGI `app` served by granian like the service; import them by module, not from here.
"""

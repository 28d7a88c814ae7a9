"""job.prune as a method of Client (PruneCalls) and of AsyncClient (AsyncPruneCalls):
`client.prune(older_than=86400, states=["completed"])`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from queuectl.client.params import PRUNE_CALL, prune_params

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from queuectl.client.records import PruneResult


class PruneCalls:
    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any: ...

    def prune(self, *, older_than: float | None = None, states: Iterable[str] | None = None,
              queue: str | None = None, dry_run: bool = False, timeout: float | None = None) -> PruneResult:  # fmt: skip
        """Remove finished jobs now (docs/rpc.md, job.prune): those finished longer than
        older_than seconds, or (None) by the retention settings; only of `states` (final
        states), of `queue`. dry_run: count them, remove nothing. Answered when done
        (timeout: an hour unless given)."""
        params = prune_params(older_than, states, queue, dry_run)
        result: PruneResult = self.call("job.prune", params, PRUNE_CALL if timeout is None else timeout)
        return result


class AsyncPruneCalls:
    """AsyncClient's prune: PruneCalls' as a coroutine."""

    if TYPE_CHECKING:

        def call(self, method: str, params: Any = None, timeout: float | None = None) -> Awaitable[Any]: ...

    async def prune(self, *, older_than: float | None = None, states: Iterable[str] | None = None,
                    queue: str | None = None, dry_run: bool = False,
                    timeout: float | None = None) -> PruneResult:  # fmt: skip
        params = prune_params(older_than, states, queue, dry_run)
        result: PruneResult = await self.call("job.prune", params, PRUNE_CALL if timeout is None else timeout)
        return result

"""What every part of pair control shares, below all of them: the persisted pair state and
its event register (``state``), the primary's lease (``lease``), a node's role and what a
probe of it found (``node``), and the hands a monitor acts with (``hands``). The node entry
and agents, the monitors, the launcher and the chaos lab use these; nothing here imports
any of them."""

"""What every part of pair control shares, below all of them: the persisted pair state and
its event register (``state``) and the primary's lease (``lease``). The node entry and
agents, the monitors, the launcher and the chaos lab read and write these; nothing here
imports any of them."""

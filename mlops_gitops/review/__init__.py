"""Reading a plan for a person: the risks in ML terms, the pull-request comment, the diagram,
the cost, the guard rules. Everything here reads the plan's JSON document only."""

"""The one web edge of the house: log-in, sessions, roles, CSRF, headers, the
page shell, the audit of personal data.

A layer between the users (``crm_bridge``'s staff table) and every slice's
pages: a slice's sub-app declares on each handler who may use it
(:func:`webedge.edge.allow`, :func:`webedge.edge.public`) and renders its
pages into the one shell (:func:`webedge.shell.render`); the composition root
(``hotline.web``) installs the edge once on the root application.
"""

"""The dashboard (看板): signed links from the chat, server-rendered pages, downloads."""
